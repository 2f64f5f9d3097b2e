"""The embedded invoker: runs activations in runtime processes from the container pool (§3, §4).

``Invoker(config, api_host=...)`` implements :class:`~pytest_openwhisk.local.types.InvokerProtocol`.
For each :class:`RunRequest` it leases a container (warm, prewarmed or cold, possibly after queueing
for memory), sends ``/init`` on a fresh container and ``/run``, turns the runtime's answer into
OpenWhisk's status codes and messages (ActivationResult.scala), collects the activation's logs up to
the sentinels and gives the container back (destroyed after status 2/3).
"""

from __future__ import annotations

import asyncio
import compileall
import errno
import os
import shutil
import site
import tempfile
from typing import Any

import orjson

from pytest_openwhisk import energy
from pytest_openwhisk.local import resources, seccomp, spawner
from pytest_openwhisk.local.config import LocalConfig
from pytest_openwhisk.local.container import Container, Response, RuntimeGone, now_ms
from pytest_openwhisk.local.isolation import (
    NONE_WARNING,
    is_out_of_memory,
    resolve_mode,
    runtime_command,
    sandbox,
    sandbox_uid,
)
from pytest_openwhisk.local.logs import format_line, merge
from pytest_openwhisk.local.manifest import RUNTIMES_DIR, family, interpreter, resolve_kind
from pytest_openwhisk.local.pool import COLD, PREWARMED, WARM, Lease, Pool, SpawnFailed
from pytest_openwhisk.local.spawn import EXTRA_FD, LISTEN_FD, Launcher, SpawnError
from pytest_openwhisk.local.types import (
    APPLICATION_ERROR,
    DEVELOPER_ERROR,
    SUCCESS,
    WHISK_ERROR,
    ActionSpec,
    RunOutcome,
    RunRequest,
)

MB = 1024 * 1024
LOG_WAIT_S = 2.0  # OpenWhisk's idle timeout while tailing logs for the sentinels
PROVISION_FAILED = "Failed to provision resources to run the action."
INIT_EXITED = "The action did not initialize and exited unexpectedly."
RUN_EXITED = "The action did not produce a valid response and exited unexpectedly."
OOM = "The action exhausted its memory and was aborted."
NOT_JSON = "The action did not produce a valid JSON or JSON Array response: {body}"
COST_ANNOTATION = "pytest-openwhisk/cost"  # record annotation: cpu_ms, memory_peak_mb, memory_rss_mb, ...
ISOLATION_NOTE = "pytest-openwhisk/isolation"  # record annotation: what isolation 'none' does not protect


class _Failure(Exception):
    """A fault that ends the activation with ``status`` and ``message``."""

    def __init__(self, status: int, message: str, *, timed_out: bool = False, cause: str = "") -> None:
        super().__init__(message)
        self.status, self.message, self.timed_out = status, message, timed_out
        self.cause = cause  # our side's reason, for the activation's logs (whisk errors)


class Invoker:
    """Container pool over real runtime processes; see the module docstring."""

    def __init__(self, config: LocalConfig, api_host: str = "") -> None:
        self.config = config
        self.api_host = api_host
        self.isolation = "none"
        self._root = ""
        self._pool: Pool | None = None
        self._launcher: Launcher | None = None
        self.control: resources.Control | None = None
        self.costs: dict[str, list[int]] = {}  # action path -> [accounted activations, cpu ns, peak bytes]
        self._energy: energy.Meter | None = None
        self.energy = energy.availability()
        self._site_dirs = [
            d for d in (*site.getsitepackages(), site.getusersitepackages()) if os.path.isdir(d)
        ]

    # --- InvokerProtocol ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Choose the isolation mode, create the work root and spawn the prewarmed stem cells."""
        loop = asyncio.get_running_loop()
        self.isolation = await loop.run_in_executor(None, resolve_mode, self.config.pool.isolation)
        await loop.run_in_executor(None, compile_runtimes)
        self.control = await loop.run_in_executor(None, resources.select, self.config.pool.enforcement)
        if self.energy["available"]:
            self._energy = energy.Meter()
        self.control.start()
        self._root = tempfile.mkdtemp(prefix="ow-invoker-")
        self._launcher = Launcher()
        self._launcher.start()  # before the first container: the helper process starts small
        self._pool = Pool(self.config.pool, self._spawn)
        self._pool.start()

    async def stop(self) -> None:
        """Kill every runtime process and remove the work root; idempotent."""
        if self._pool is not None:
            await self._pool.stop()
            self._pool = None
        if self._launcher is not None:
            await self._launcher.stop()
            self._launcher = None
        if self.control is not None:
            await self.control.stop()
            resources.kill_tokened(self.control.token_prefix)  # none mode: daemons outside any cgroup
            self.control = None
        if self._root:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = ""

    async def __aenter__(self) -> Invoker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def pool(self) -> Pool:
        """The running pool (raises when the invoker is not started)."""
        if self._pool is None:
            raise RuntimeError("the invoker is not running; call 'await invoker.start()' first")
        return self._pool

    async def evict(self, namespace: str | None = None, path: str | None = None) -> int:
        """Destroy the idle containers of an action (all when path is None) and doom its busy ones."""
        return self.pool.evict(namespace, path)

    def stats(self) -> dict[str, Any]:
        """Pool state: containers by state, memory, start counters, settings and isolation mode."""
        if self._pool is None:
            return {"running": False, "isolation": self.isolation}
        enforcement = self.control.mode if self.control is not None else ""
        return {
            "running": True,
            "isolation": self.isolation,
            "enforcement": enforcement,
            "energy": self.energy,
            "cost": {
                path: {"activations": n, "cpu_seconds": cpu / 1e9, "memory_peak_mb": peak / MB}
                for path, (n, cpu, peak) in self.costs.items()
            },
            **self._pool.stats(),
        }

    async def run(self, request: RunRequest) -> RunOutcome:
        """Schedule, run and interpret one activation; never raises for action faults."""
        spec = request.action
        received_ms = int(request.received_at * 1000)
        try:
            kind = resolve_kind(spec.kind)
            lease = await self.pool.acquire(request, kind)
        except (ValueError, SpawnFailed) as exc:
            end = now_ms()
            line = format_line(end * 1_000_000, "stderr", str(exc))
            return RunOutcome(
                WHISK_ERROR,
                {"error": PROVISION_FAILED},
                end,
                end,
                max(0, end - received_ms),
                logs=[line],
                isolation=self.isolation,
            )
        container = lease.entry.container
        outcome = RunOutcome(
            SUCCESS,
            None,
            0,
            0,
            0,
            container_id=container.id,
            isolation=self.isolation,
            prewarmed=lease.start == PREWARMED,
        )
        if self.isolation == "none":
            outcome.annotations.append({"key": ISOLATION_NOTE, "value": NONE_WARNING})
        cause = ""
        try:
            try:
                await self._activate(request, lease, outcome, received_ms)
            except _Failure as failure:
                outcome.status_code, outcome.result = failure.status, {"error": failure.message}
                outcome.timed_out = failure.timed_out
                outcome.end_ms = now_ms()
                cause = failure.cause
            except Exception as exc:  # a bug or an OS error on our side: the action is not to blame
                outcome.status_code, outcome.end_ms = WHISK_ERROR, now_ms()
                outcome.result = {
                    "error": f"The invoker failed to run the action: {type(exc).__name__}: {exc}"
                }
            broken = outcome.status_code in (DEVELOPER_ERROR, WHISK_ERROR)
            if broken:
                container.kill()
                await container.wait_exit(2.0)
            elif request.on_result is not None and container.stdout.pending and container.stderr.pending:
                # the logs are in: the waiting caller answers now, and the container is free again (below)
                # in this same pass of the event loop, before the caller can send its next request; with
                # logs still to come it waits for them, so a sequential client never meets a busy container
                request.on_result(outcome)
                await asyncio.sleep(0)
            outcome.logs = await self._logs(
                container, spec, developer_error=outcome.status_code == DEVELOPER_ERROR
            )
            if cause:
                outcome.logs.insert(0, format_line(outcome.end_ms * 1_000_000, "stderr", cause))
        except BaseException:  # cancelled by the caller: the container's state is unknown
            self.pool.release(lease.entry, destroy=True)
            raise
        finally:
            if lease.start != WARM:
                self.pool.replenish()
        self.pool.release(lease.entry, destroy=broken)
        return outcome

    # --- one activation ----------------------------------------------------------------------------------

    async def _activate(
        self, request: RunRequest, lease: Lease, outcome: RunOutcome, received_ms: int
    ) -> None:
        spec = request.action
        container = lease.entry.container
        timeout_s = spec.timeout_ms / 1000
        if lease.start in (COLD, PREWARMED):
            limit = spec.logs_mb * MB
            container.stdout.limit_bytes = container.stderr.limit_bytes = limit
            init_start = now_ms()
            outcome.start_ms, outcome.wait_ms = init_start, max(0, init_start - received_ms)
            try:
                await self._init(container, request, timeout_s)
            finally:
                outcome.init_ms = now_ms() - init_start
                if lease.start == PREWARMED:
                    self.pool.replenish()  # after /init, so the new stem cell does not slow this one down
            lease.entry.initialised = True
            container.promote()  # from the boot cpu group to the runtimes' (worker thread, not awaited)
            run_start = now_ms()
        else:
            run_start = now_ms()
            outcome.start_ms, outcome.wait_ms = run_start, max(0, run_start - received_ms)
        body = {"value": request.params, **self._activation_env(request, lowercase=True)}
        group = container.group if self.config.pool.accounting else None
        energy_before = None
        cpu_before = 0
        if group is not None:
            energy_before = self._energy_reading()
            cpu_before = group.start_window()  # new peak window; the previous window's end when it compares
        try:
            response = await container.post("/run", orjson.dumps(body), timeout_s)
        except TimeoutError:
            container.kill()
            raise _Failure(
                DEVELOPER_ERROR,
                f"The action exceeded its time limits of {spec.timeout_ms} milliseconds.",
                timed_out=True,
            ) from None
        except RuntimeGone:
            raise await self._died(container, RUN_EXITED) from None
        outcome.end_ms = now_ms()
        if group is not None:
            cpu = group.cpu_ns() - cpu_before
            self._account(spec, outcome, cpu, group.memory(), energy_before)
        if container.group is not None and container.group.oom_killed():
            # the kernel killed a process of the container for memory: the container is over its limit
            container.kill()
            raise _Failure(DEVELOPER_ERROR, OOM)
        outcome.size = response.length
        outcome.status_code, outcome.result = self._interpret(response)

    # --- accounting (issue 14) -----------------------------------------------------------------------------

    def _energy_reading(self) -> tuple[list[int], int] | None:
        if self._energy is None:
            return None
        try:
            return self._energy.read(), energy.machine_cpu_ns()
        except (OSError, ValueError):
            return None

    def _account(
        self,
        spec: ActionSpec,
        outcome: RunOutcome,
        cpu_ns: int,
        memory: tuple[int, int],
        energy_before: tuple[list[int], int] | None,
    ) -> None:
        """Put the activation's cost into its record (``pytest-openwhisk/cost``) and the per-action totals."""
        rss, peak = memory
        cost: dict[str, Any] = {
            "cpu_ms": round(max(0, cpu_ns) / 1e6, 3),
            "memory_peak_mb": round(peak / MB, 3),
            "memory_rss_mb": round(rss / MB, 3),
            "attribution": "exact" if spec.concurrency == 1 else "container-window",
        }
        after = self._energy_reading() if energy_before is not None else None
        if energy_before is not None and after is not None and self._energy is not None:
            joules = self._energy.joules(energy_before[0], after[0])
            cost["energy_j"] = energy.attribute(joules, cpu_ns, after[1] - energy_before[1])
        outcome.annotations.append({"key": COST_ANNOTATION, "value": cost})
        totals = self.costs.setdefault(spec.path, [0, 0, 0])
        totals[0] += 1
        totals[1] += max(0, cpu_ns)
        totals[2] = max(totals[2], peak)

    async def _init(self, container: Container, request: RunRequest, timeout_s: float) -> None:
        spec = request.action
        env: dict[str, str] = {**spec.init_env, **self._activation_env(request, lowercase=False)}
        if spec.concurrency > 1:
            env["__OW_ALLOW_CONCURRENT"] = "true"
        value = {
            "name": spec.name,
            "main": spec.main or "main",
            "binary": spec.binary,
            "code": spec.code,
            "env": env,
        }
        try:
            response = await container.post("/init", orjson.dumps({"value": value}), timeout_s)
        except SpawnError as exc:
            cause = f"cannot start a {container.kind} runtime: {exc}"
            raise _Failure(WHISK_ERROR, PROVISION_FAILED, cause=cause) from None
        except TimeoutError:
            container.kill()
            raise _Failure(
                DEVELOPER_ERROR,
                f"The action exceeded its time limits of {spec.timeout_ms} "
                "milliseconds during initialization.",
                timed_out=True,
            ) from None
        except RuntimeGone:
            raise await self._died(container, INIT_EXITED) from None
        if response.status == 200:
            return
        parsed = _loads(response.body)
        if isinstance(parsed, dict) and "error" in parsed:
            raise _Failure(DEVELOPER_ERROR, parsed["error"])
        text = response.body.decode("utf-8", "replace")
        raise _Failure(
            DEVELOPER_ERROR,
            f"The action failed during initialization: {text}"
            if text
            else "The action failed during initialization.",
        )

    async def _died(self, container: Container, message: str) -> _Failure:
        code = await container.wait_exit(2.0)
        recent = list(container.stderr.recent)
        entry = [line for line in recent if spawner.ENTRY_MARKER in line]
        if code == spawner.ENTRY_FAILED and entry:  # it could not enter its cgroup: never ran the runtime
            return _Failure(WHISK_ERROR, PROVISION_FAILED, cause=entry[-1])
        group_oom = container.group is not None and container.group.oom_killed()
        if group_oom or (is_out_of_memory(code, list(container.stderr.recent)) and not container.killed):
            return _Failure(DEVELOPER_ERROR, OOM)
        return _Failure(DEVELOPER_ERROR, message)

    def _activation_env(self, request: RunRequest, *, lowercase: bool) -> dict[str, str]:
        """The per-activation keys: /run body fields (lowercase) or /init ``__OW_*`` env vars."""
        spec = request.action
        fields = {
            "namespace": request.invoker_namespace,
            "action_name": f"/{spec.path}",
            "action_version": spec.version,
            "activation_id": request.activation_id,
            "transaction_id": request.transaction_id,
            "deadline": str(now_ms() + spec.timeout_ms),
        }
        if spec.provide_api_key and request.api_key:
            fields["api_key"] = request.api_key
        if lowercase:
            return fields
        return {f"__OW_{key.upper()}": value for key, value in fields.items()}

    def _interpret(self, response: Response) -> tuple[int, Any]:
        """statusCode and result of a /run response (ActivationResult.scala, §3.1)."""
        limit = self.config.limits.result_max_bytes
        if response.length > limit:
            truncated = response.body[:limit].decode("utf-8", "ignore")
            return APPLICATION_ERROR, {
                "error": "The action produced a response that exceeded the allowed length: "
                f"{response.length} > {limit} bytes. The truncated response was: "
                f"{truncated}"
            }
        parsed = _loads(response.body)
        if response.status == 200 and isinstance(parsed, dict):
            if "error" in parsed:
                return APPLICATION_ERROR, {"error": parsed["error"]}
            return SUCCESS, parsed
        if response.status == 200 and isinstance(parsed, list):
            return SUCCESS, parsed
        if response.status != 200 and isinstance(parsed, dict) and "error" in parsed:
            return DEVELOPER_ERROR, {"error": parsed["error"]}
        return DEVELOPER_ERROR, {"error": NOT_JSON.format(body=response.body.decode("utf-8", "replace"))}

    async def _logs(self, container: Container, spec: ActionSpec, *, developer_error: bool) -> list[str]:
        wait = LOG_WAIT_S if container.alive else 0.5
        out, out_cut, out_done = await container.stdout.next_chunk(wait)
        err, err_cut, err_done = await container.stderr.next_chunk(wait)
        return merge(
            out,
            err,
            spec.logs_mb * MB,
            truncated=out_cut or err_cut,
            developer_error=developer_error,
            incomplete=not (out_done and err_done),
        )

    # --- processes ---------------------------------------------------------------------------------------

    def _spawn(self, kind: str, memory_mb: int) -> Container:
        """A new container, starting in the background (its resource group, command line and process are
        made off the event loop; :meth:`Container.post` waits for the start)."""
        pool = self.config.pool
        control = self.control
        assert control is not None
        container = Container(kind, memory_mb, self.isolation, self._root, launcher=self._launcher)
        fam = family(kind)
        program = interpreter(kind)[0]
        if shutil.which(program) is None:  # the sandbox or the cgroup entry would only fail after the spawn
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", program)
        container.on_destroyed = lambda c: control.forget(c.id)
        workdir = container.runtime_workdir
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": workdir,
            "LANG": "C.UTF-8",
            "__OW_EXECUTION_ENV": f"local/{fam}",
        }
        if self.api_host:
            env["__OW_API_HOST"] = self.api_host
        bwrap = self.isolation == "bwrap"
        uid = sandbox_uid(container.seq) if os.geteuid() == 0 else None

        def prepare() -> tuple[list[str], dict[str, str], list[int]]:  # in a worker thread
            container.group = group = control.group(container.id, memory_mb, pool.pids_max)
            env[resources.TOKEN_ENV] = group.token
            argv = runtime_command(
                fam, interpreter(kind), memory_mb, LISTEN_FD, workdir, self._site_dirs, pool.disk_mb * MB
            )
            command = sandbox(
                self.isolation,
                argv,
                workdir,
                uid=uid,
                disk_mb=pool.disk_mb,
                pids_max=pool.pids_max,
                seccomp_fd=EXTRA_FD if bwrap else None,
            )
            return command, env, [seccomp.program_fd()] if bwrap else []

        container.start(prepare)
        return container


def compile_runtimes() -> bool:
    """Write the bytecode of the runtimes' Python modules next to them when it is missing or stale (a
    checkout's first start): a sandboxed runtime sees the tree read-only and would compile its module at
    every cold start (~3 ms). Whether the cache is in place (False: not writable, e.g. a read-only install,
    whose wheel brings it)."""
    return bool(compileall.compile_dir(str(RUNTIMES_DIR), maxlevels=0, quiet=2))


def _loads(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
