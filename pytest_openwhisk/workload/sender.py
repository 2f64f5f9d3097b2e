"""The open-loop sender: fire every scheduled request at its intended time, never waiting on responses.

By default the send loop (:mod:`~pytest_openwhisk.workload.sendloop`: asyncio, one aiohttp session) runs in
the sender's **own process** (:mod:`~pytest_openwhisk.workload.sendproc`), so it shares no GIL, garbage
collector or loop with the pytest process, and the OS schedules it on its own (its own session, hence its own
autogroup; ``priority``/``nice``/``cpus``, see :mod:`~pytest_openwhisk.workload.priority`). It waits for each
arrival on a timerfd (:mod:`~pytest_openwhisk.workload.timer`): exact wake-ups without spinning. A slow
action never delays the next arrival (no coordinated omission). ``SenderConfig(process=False)`` runs the same
loop in a thread of the calling process instead. Each request records its intended and actual send time.

Bounds: at most ``max_in_flight`` requests are outstanding (an arrival beyond it is recorded as
``dropped`` with the reason); everything still in flight at ``duration + drain_s`` is cancelled and
recorded as a client error. :meth:`OpenLoopSender.run` also stops cleanly on KeyboardInterrupt: unsent
arrivals become ``dropped``, outstanding ones get a short grace, and the partial result is returned with
``interrupted=True`` (the caller saves it and re-raises). The sender process reports finished requests every
``flush_s``; a request it never reported (the process died) is recorded as a client error saying so.

Its parts: :mod:`~pytest_openwhisk.workload.sendconfig` (the knobs),
:mod:`~pytest_openwhisk.workload.sendrun` (one run: the loop in its process or a thread, rows -> records) and
:mod:`~pytest_openwhisk.workload.sendresult` (live counters, records, the result).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from urllib.parse import quote

from pytest_openwhisk.workload.priority import set_autogroup_nice
from pytest_openwhisk.workload.schedule import Schedule, build_schedule
from pytest_openwhisk.workload.sendconfig import SenderConfig
from pytest_openwhisk.workload.sendloop import Target
from pytest_openwhisk.workload.sendresult import Counters, SendResult
from pytest_openwhisk.workload.sendrun import SendRun
from pytest_openwhisk.workload.spec import Workload, WorkloadError

_Target = Target  # the name benchmarks use


def invoke_url(apihost: str, namespace: str, action: str, *, blocking: bool, web: bool = False) -> str:
    """URL of an invoke (``result=false``, like FaaSProfiler) or of a web action (``data_file``)."""
    path = "/".join(quote(part, safe="@.&-_") for part in action.strip("/").split("/"))
    if web:
        if "/" not in action.strip("/"):
            path = f"default/{path}"
        return f"{apihost.rstrip('/')}/api/v1/web/{quote(namespace)}/{path}"
    flag = "true" if blocking else "false"
    base = f"{apihost.rstrip('/')}/api/v1/namespaces/{quote(namespace)}/actions/{path}"
    return f"{base}?blocking={flag}&result=false"


class OpenLoopSender:
    """Sends a workload's schedule to one OpenWhisk API host (see the module docstring)."""

    def __init__(self, apihost: str, auth: str, namespace: str, config: SenderConfig | None = None) -> None:
        if ":" not in auth:
            raise WorkloadError(
                "auth is invalid: expected 'uuid:key' (the value is not shown); "
                "pass the API key of the target namespace"
            )
        self.apihost = apihost
        self.namespace = namespace
        self.config = config or SenderConfig()
        self._authorization = "Basic " + base64.b64encode(auth.encode("utf-8")).decode("ascii")
        self.counters = Counters()
        self._stopper: Callable[[str], None] | None = None
        self._cancel_reason = "cancelled"
        self._run: SendRun | None = None

    @property
    def process_id(self) -> int | None:
        """The pid of the running sender process (None in thread mode, or when not running)."""
        run = self._run
        return run.process_id if run is not None else None

    # -- public -------------------------------------------------------------------------------
    def run(
        self,
        workload: Workload,
        schedule: Schedule | None = None,
        on_tick: Callable[[Counters], None] | None = None,
        tick_s: float = 0.5,
    ) -> SendResult:
        """Send ``workload`` (its schedule is built unless given) and return every record.

        Blocks until the sender stops. ``on_tick`` is called from the calling thread about every
        ``tick_s`` seconds with the live counters (for a progress line).
        """
        schedule = schedule or build_schedule(workload)
        run = self._run = SendRun(
            self.config, self._targets(workload), self._authorization, workload, schedule
        )
        self.counters = run.counters
        previous = set_autogroup_nice(self.config.autogroup_nice)
        interrupted = False
        try:
            worker = run.start()
            self._stopper = run.stop
            while worker.is_alive():
                try:
                    worker.join(timeout=tick_s)
                    run.tick()
                    if on_tick is not None:
                        on_tick(self.counters)
                except KeyboardInterrupt:
                    interrupted = True
                    run.stop("interrupted (KeyboardInterrupt)")
        finally:
            self._stopper = None
            run.abandon()
            self._run = None
            set_autogroup_nice(previous)
        result = run.result()
        result.interrupted = result.interrupted or interrupted
        return result

    def stop(self, reason: str = "stopped") -> None:
        """Ask a running sender to stop: unsent arrivals are dropped, in-flight ones get a grace period."""
        self._cancel_reason = reason
        if self._stopper is not None:
            self._stopper(reason)

    # -- internals ------------------------------------------------------------------------------
    def _targets(self, workload: Workload) -> dict[str, _Target]:
        out = {}
        for inst in workload.instances:
            body = inst.body(workload.base_dir)
            web = inst.data_file is not None
            headers = {"Content-Type": inst.content_type if web else "application/json"}
            url = invoke_url(
                self.apihost, self.namespace, inst.action, blocking=workload.is_blocking(inst), web=web
            )
            out[inst.name] = _Target(
                url=url, body=body if body is not None else (None if web else b"{}"), headers=headers, web=web
            )
        return out
