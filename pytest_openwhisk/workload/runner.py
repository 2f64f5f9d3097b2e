"""Run a workload end to end: schedule, send, collect, analyze, save, plot, and record the measurements.

:class:`WorkloadRunner` is what the ``ow_workload`` fixture hands to a test; it is usable without pytest
too (give it an API host, the key, a namespace, an activation source and a results folder).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pytest_openwhisk.client import ActivationLister
from pytest_openwhisk.names import slug
from pytest_openwhisk.samples import Sample
from pytest_openwhisk.workload.analyzer import Analysis, analyze
from pytest_openwhisk.workload.collect import join_activations
from pytest_openwhisk.workload.files import load
from pytest_openwhisk.workload.progress import ProgressLine, Writer
from pytest_openwhisk.workload.schedule import build_schedule
from pytest_openwhisk.workload.sendconfig import SenderConfig
from pytest_openwhisk.workload.sender import OpenLoopSender
from pytest_openwhisk.workload.spec import Workload, WorkloadError

#: called once per function with (measurement name, samples, action) — e.g. ``ow_bench.record``
Recorder = Callable[..., Any]
#: a runtime_script gets this long after the workload to exit by itself before it is terminated
HOOK_GRACE_S = 5.0


@dataclass
class WorkloadRunner:
    """Runs workloads against one OpenWhisk and keeps every :class:`Analysis` it produced."""

    apihost: str
    auth: str = field(repr=False)
    namespace: str
    source: ActivationLister
    results_dir: Path
    sender_config: SenderConfig = field(default_factory=SenderConfig)
    progress_stream: Writer | None = None
    recorder: Recorder | None = None
    aliases: Mapping[str, str] = field(default_factory=dict)  # asked action name -> deployed name
    resolve_actions: Callable[[], Mapping[str, str]] | None = None  # live aliases (ow_action's deployed)
    energy: dict[str, Any] | None = None  # the backend fingerprint's energy entry, for the results
    analyses: list[Analysis] = field(default_factory=list)

    def run(
        self,
        workload: Workload | str | Path,
        *,
        settle_s: float = 30.0,
        plots: bool = True,
        record: bool = True,
        run_hooks: bool = False,
        sender_config: SenderConfig | None = None,
    ) -> Analysis:
        """Send ``workload`` (a :class:`Workload` or a JSON file, ours or FaaSProfiler's) and analyze it.

        Writes ``invocations.csv``, ``summary.json``, ``workload.json``, ``schedule.json`` and (with
        ``plots``) ``latency_over_time.png``, ``latency_cdf.png`` and ``report.html`` under
        ``results_dir/<workload name>/``. With ``record`` each function becomes one open-loop
        measurement (pytest-benchmark entry + SLO check). On KeyboardInterrupt the partial result is
        analyzed and written, then the interrupt is re-raised.
        """
        if not isinstance(workload, Workload):
            workload = load(workload)
        aliases = {**self.aliases, **(self.resolve_actions() if self.resolve_actions else {})}
        workload = workload.with_actions(aliases)
        folder = self.results_dir / slug(workload.name, fallback="workload")
        folder.mkdir(parents=True, exist_ok=True)
        schedule = build_schedule(workload)
        (folder / "schedule.json").write_bytes(schedule.to_json_bytes())
        sender = OpenLoopSender(self.apihost, self.auth, self.namespace, sender_config or self.sender_config)
        progress = ProgressLine.for_stream(workload.name, self.progress_stream)
        hook = self._start_hook(workload, "runtime_script") if run_hooks else None
        try:
            result = sender.run(workload, schedule, on_tick=progress.update)
        finally:
            progress.close(sender.counters)
            if hook is not None:
                _stop(hook, HOOK_GRACE_S)
        join = join_activations(
            result, self.source, settle_s=min(settle_s, 2.0) if result.interrupted else settle_s
        )
        deployed_to_asked = {v: k for k, v in aliases.items()}
        analysis = analyze(result, join, names=deployed_to_asked)
        analysis.energy = self.energy
        analysis.write(folder)
        if plots:
            from pytest_openwhisk.workload.plots import write_plots

            write_plots(analysis, folder)
        if run_hooks:
            post = self._start_hook(workload, "post_script")
            if post is not None:
                _stop(post, 60.0, wait=True)
        self.analyses.append(analysis)
        if result.interrupted:
            raise KeyboardInterrupt(f"workload {workload.name!r} interrupted; partial results in {folder}")
        if record and self.recorder is not None:
            for action in workload.actions:
                base = deployed_to_asked.get(action, action)
                self.recorder(
                    f"{workload.name}:{base}",
                    bench_samples(analysis.samples(action)),
                    mode="open-loop",
                    action=base,
                    extra={"workload": _extra(analysis, action)},
                )
        return analysis

    def results_for(self, workload_name: str) -> Path:
        """The folder that holds ``workload_name``'s files."""
        return self.results_dir / slug(workload_name, fallback="workload")

    def _start_hook(self, workload: Workload, key: str) -> subprocess.Popen[bytes] | None:
        script = workload.hooks.get(key)
        if not script:
            return None
        path = Path(script)
        if not path.is_absolute() and workload.base_dir is not None:
            path = workload.base_dir / path
        if not path.is_file():
            raise WorkloadError(
                f"perf_monitoring.{key} = {script!r} is invalid: {str(path)!r} does not "
                "exist; fix the path or set it to null"
            )
        return subprocess.Popen(
            ["bash", str(path), f"{workload.duration_s:g}"], cwd=path.parent, stdin=subprocess.DEVNULL
        )


def _stop(proc: subprocess.Popen[bytes], grace_s: float, wait: bool = False) -> None:
    """Let a hook script exit by itself within ``grace_s``, then terminate it (and kill if needed).

    ``wait`` is accepted for post scripts, which are expected to finish; both paths are bounded.
    """
    try:
        proc.wait(timeout=grace_s)
        return
    except subprocess.TimeoutExpired:
        proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def bench_samples(samples: list[Sample]) -> list[Sample]:
    """Samples for pytest-benchmark: a non-blocking (202) request's latency runs to its activation end.

    The 202 itself only says the controller accepted the request; the invocation's latency is from the
    send to the end of its activation. Blocking samples are passed unchanged.
    """
    out = []
    for s in samples:
        if s.http_status == 202 and s.end_ms is not None:
            received = max(s.end_ms / 1000.0, s.received)
            s = replace(s, received=received, latency_ms=(received - s.sent) * 1000.0)
        out.append(s)
    return out


def _extra(analysis: Analysis, action: str) -> dict[str, Any]:
    stats = analysis.functions[action]
    keep = (
        "target_rps",
        "achieved_rps",
        "achieved_vs_target",
        "activation_throughput_rps",
        "rel_stress",
        "dropped",
        "errors_by_class",
        "send_lag_abs_ms",
        "latency_from_intended_ms",
        "completion_ms",
        "capacity_factor_ms",
    )
    return {
        "name": analysis.workload.name,
        "seed": analysis.workload.seed,
        "duration_s": analysis.workload.duration_s,
        **{k: stats[k] for k in keep},
    }
