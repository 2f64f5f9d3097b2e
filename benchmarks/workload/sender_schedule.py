"""Does the open-loop sender keep its schedule next to a busy server on a small machine? (issue 16)

Run (about 6 minutes; serialize it with other benchmarks)::

    python benchmarks/workload/sender_schedule.py [--previous REV] [--rounds N] [--out FILE]

Every row is one sender run: send lag |sent - intended| p50/p99/max, dropped, other outcomes, the sender's CPU
time per request, the 1-minute load average before and after. Variants, interleaved round by round:

* ``previous``: the sender of ``REV`` (default 237995d, the last one before the sender process), loaded
  from git: a thread of this process, asyncio sleep + 2 ms yield-spin;
* ``process-aiohttp``: own process at nice -10 with the aiohttp client (a task per request);
* ``thread``: today's loop in a thread of this process (timerfd waits, the raw client, no priority);
* ``process-off``: today's default process (own session), priority left alone;
* ``process-nice``: own process at nice -10 (for it and its own autogroup);
* ``process``: today's default: own process at ``SCHED_FIFO`` (falls back to nice -10 when not permitted),
  timerfd waits, the raw client.

Scenarios: ``echo`` (the bare aiohttp echo endpoint of ``benchmarks/embedded/echo_server.py``: the sender's
own floor), ``echo+hog`` (the same with two busy processes, one per core: pure CPU starvation), and
``server-1000`` / ``server-2000`` (``ow_workload``'s case: a fresh embedded server as ``serve --benchmark
--user-memory 8192`` in its own process, a fresh Python no-op, non-blocking uniform arrivals for 10 s;
records counted against accepted requests). Figures are printed and written as JSON (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.embedded.test_storm import Storm, uniform  # noqa: E402
from pytest_openwhisk.workload import sender as current  # noqa: E402
from pytest_openwhisk.workload.spec import Workload  # noqa: E402

VARIANTS: dict[str, dict[str, Any]] = {
    "previous": {},
    "process-aiohttp": {"http": "aiohttp", "priority": "nice"},
    "thread": {"process": False},
    "process-off": {"priority": "off"},
    "process-nice": {"priority": "nice"},
    "process": {},
}


def previous_module(rev: str) -> types.ModuleType:
    """The sender module as it was at ``rev`` (a git revision, or a file holding that sender.py).

    Only a revision from before sender.py was split (sendconfig, sendrun, sendresult) is whole in that file;
    a later one imports those parts from this tree.
    """
    if Path(rev).is_file():
        source = Path(rev).read_text()
    else:
        source = subprocess.run(
            ["git", "show", f"{rev}:pytest_openwhisk/workload/sender.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    module = types.ModuleType("previous_sender")
    sys.modules[module.__name__] = module
    exec(compile(source, f"sender.py@{rev}", "exec"), module.__dict__)  # our own code at rev
    return module


def sender_for(
    module: types.ModuleType, options: dict[str, Any], apihost: str, auth: str, echo_url: str | None
) -> Any:
    """An OpenLoopSender of ``module`` with ``options``, aimed at ``echo_url`` instead of invokes if given."""
    config = module.SenderConfig(drain_s=60, **options)
    if echo_url is None:
        return module.OpenLoopSender(apihost, auth, "guest", config)
    target_class = module._Target

    class EchoSender(module.OpenLoopSender):  # type: ignore[misc,name-defined]
        def _targets(self, workload: Workload) -> dict[str, Any]:
            headers = {"Content-Type": "application/json"}
            return {
                i.name: target_class(url=echo_url, body=b"{}", headers=headers, web=True)
                for i in workload.instances
            }

    return EchoSender(apihost, "bench:bench", "guest", config)


def figures(result: Any) -> dict[str, Any]:
    """Send lag, dropped and other outcomes of one run."""
    samples = result.samples
    sent = [s for s in samples if s.status != "dropped"]
    lags = np.array([abs(s.sent - s.intended) * 1000 for s in sent if s.intended is not None and s.sent])
    ok = [s for s in samples if s.http_status in (200, 202)]
    others: dict[str, int] = {}
    for s in samples:
        if s.http_status not in (200, 202) and s.status != "dropped":
            key = f"{s.http_status} {(s.error or s.status)[:60]}"
            others[key] = others.get(key, 0) + 1

    def pct(q: float) -> float:
        return round(float(np.percentile(lags, q)), 3) if lags.size else float("nan")

    return {
        "scheduled": len(samples),
        "ok": len(ok),
        "dropped": sum(1 for s in samples if s.status == "dropped"),
        "others": others,
        "lag_p50_ms": pct(50),
        "lag_p90_ms": pct(90),
        "lag_p99_ms": pct(99),
        "lag_max_ms": round(float(lags.max()), 3) if lags.size else float("nan"),
        "scheduling": getattr(result, "scheduling", {}),
        # the sender process's main thread: CPU it used and time it was runnable but had no CPU
        "sender_cpu_s": getattr(result, "scheduling", {}).get("cpu_s"),
        "runqueue_wait_s": getattr(result, "scheduling", {}).get("runqueue_wait_s"),
    }


def timed_run(sender: Any, workload: Workload) -> tuple[Any, float]:
    """Run; the CPU seconds the sender used (this process's, plus the sender process's once reaped)."""
    before_self, before_children = time.process_time(), resource.getrusage(resource.RUSAGE_CHILDREN)
    result = sender.run(workload)
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    children = (after_children.ru_utime + after_children.ru_stime) - (
        before_children.ru_utime + before_children.ru_stime
    )
    return result, time.process_time() - before_self + children


def hogs(count: int) -> list[subprocess.Popen[bytes]]:
    """``count`` busy processes (one per core): CPU starvation without anything else."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--previous", default="237995d")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--scenarios", default="echo,echo+hog,server-1000,server-2000")
    parser.add_argument("--scale", type=float, default=1.0, help="durations x this (0.1: a smoke run)")
    parser.add_argument("--out", default=str(ROOT / ".ow-results" / "sender-schedule.json"))
    args = parser.parse_args()
    modules = {"previous": previous_module(args.previous)}
    variants = args.variants.split(",")
    scenarios = args.scenarios.split(",")
    rows: list[dict[str, Any]] = []
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
    }
    echo = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks/embedded/echo_server.py")],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert echo.stdout is not None
        echo_url = f"http://127.0.0.1:{int(echo.stdout.readline())}/echo"
        for round_ in range(args.rounds):
            for scenario in scenarios:
                order = variants if round_ % 2 == 0 else variants[::-1]
                if scenario.startswith("server") and round_ > 0 and scenario.endswith("2000"):
                    continue  # one round of 2,000/s is enough to read dropped and lag
                for variant in order:
                    module = modules.get(variant, current)
                    options = VARIANTS[variant]
                    load = round(os.getloadavg()[0], 2)
                    row: dict[str, Any] = {"round": round_, "scenario": scenario, "variant": variant}
                    if scenario.startswith("echo"):
                        busy = hogs(os.cpu_count() or 2) if scenario == "echo+hog" else []
                        try:
                            sender = sender_for(
                                module, options, "http://127.0.0.1:1", "bench:bench", echo_url
                            )
                            result, cpu = timed_run(sender, uniform("echo", 1000.0, 5.0 * args.scale))
                        finally:
                            for proc in busy:
                                proc.kill()
                                proc.wait()
                        row.update(figures(result))
                    else:
                        rate = float(scenario.rsplit("-", 1)[1])
                        with Storm() as storm:
                            name = storm.action(f"u{int(rate)}{variant.replace('-', '')}{round_}")
                            sender = sender_for(
                                module, options, storm.server.apihost, storm.server.auth, None
                            )
                            result, cpu = timed_run(sender, uniform(name, rate, 10.0 * args.scale))
                            row.update(figures(result))
                            accepted = sum(1 for s in result.samples if s.http_status == 202)
                            row["records"] = storm.records(name, accepted)
                            row["accepted"] = accepted
                            row["cold_starts"] = storm.server.pool_stats()["starts"]["cold"]
                    row["sender_cpu_us_per_request"] = round(cpu / max(1, row["scheduled"]) * 1e6, 1)
                    row["load_before"], row["load_after"] = load, round(os.getloadavg()[0], 2)
                    rows.append(row)
                    shown = {k: v for k, v in row.items() if k != "scheduling"}
                    print(json.dumps(shown), flush=True)
    finally:
        echo.terminate()
        echo.wait(10)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(rows, indent=1) + "\n")
        print(f"saved {out}")


if __name__ == "__main__":
    main()
