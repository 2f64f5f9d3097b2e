"""Workload generator benchmarks against the embedded OpenWhisk (about a minute in total).

1. Schedule accuracy at 200 and 1,000 requests/s (uniform arrivals, non-blocking ``noop``): send-time
   error |actual − intended| (p50, p99, max) and achieved vs target rate. Baseline in the same run: the
   same sender with a plain ``asyncio.sleep`` timer (``precise_timer=False, spin_s=0``) instead of its
   timerfd.
2. No coordinated omission: a 200 ms sleep action at 100 requests/s for 10 s, blocking invokes, sent by
   the open-loop sender vs a fixed pool of 16 blocking workers (FaaSProfiler's ``FuturesSession`` model)
   on the same schedule.
3. Reproducibility: the same seed gives the same schedule bytes in two fresh processes; the time to
   build a 10,000-arrival schedule is the pytest-benchmark statistic.

Run: ``python -m pytest benchmarks/workload -p no:cacheprovider`` (figures printed at the end and saved
to ``.ow-results/workload-bench.json``).
"""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import requests

from pytest_openwhisk.client import OpenWhiskClient
from pytest_openwhisk.local.process import LocalOpenWhiskProcess
from pytest_openwhisk.workload.analyzer import analyze, completion_ms
from pytest_openwhisk.workload.collect import join_activations
from pytest_openwhisk.workload.schedule import Schedule, build_schedule
from pytest_openwhisk.workload.sendconfig import SenderConfig
from pytest_openwhisk.workload.sender import OpenLoopSender, invoke_url
from pytest_openwhisk.workload.sendresult import SendResult
from pytest_openwhisk.workload.spec import Instance, Workload


def _pcts(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    out = {f"p{q}": float(np.percentile(arr, q)) for q in (25, 50, 75, 99)}
    out["max"] = float(arr.max())
    return out


def _send_figures(
    label: str,
    rate: float,
    sent: list[float],
    intended: list[float],
    completions: list[float],
    dropped: int = 0,
    errors: int = 0,
) -> dict[str, Any]:
    lags = [abs(s - i) * 1000.0 for s, i in zip(sent, intended, strict=True)]
    order = sorted(sent)
    achieved = (len(order) - 1) / (order[-1] - order[0]) if len(order) > 1 else float("nan")
    lag, comp = _pcts(lags), _pcts(completions)
    return {
        "run": label,
        "target_rps": rate,
        "sent": len(sent),
        "dropped": dropped,
        "errors": errors,
        "achieved_rps": achieved,
        "achieved_vs_target": achieved / rate,
        "lag_p50_ms": lag["p50"],
        "lag_iqr_ms": lag.get("p75", 0) - lag.get("p25", 0),
        "lag_p99_ms": lag["p99"],
        "lag_max_ms": lag["max"],
        "completion_p50_ms": comp["p50"],
        "completion_p99_ms": comp["p99"],
    }


def _open_loop_figures(label: str, rate: float, result: SendResult) -> dict[str, Any]:
    sent = [s for s in result.samples if s.status != "dropped"]
    completions = [v for v in (completion_ms(s) for s in sent) if v is not None]
    return _send_figures(
        label,
        rate,
        [s.sent for s in sent],
        [s.intended or 0.0 for s in sent],
        completions,
        dropped=len(result.samples) - len(sent),
        errors=sum(1 for s in sent if s.status not in ("success", "accepted")),
    )


def _uniform(action: str, rate: float, duration: float, *, blocking: bool) -> Workload:
    return Workload(
        f"{action}-{rate:g}rps",
        duration,
        seed=11,
        blocking=blocking,
        instances=(Instance("i", action, distribution="uniform", rate=rate),),
    )


async def _timer_only(rate: float, count: int, spin_s: float) -> list[float]:
    """The machine's scheduling noise floor: the sender's timer alone (no HTTP), |wake − target| in ms."""
    t0 = time.perf_counter() + 0.05
    lags = []
    for i in range(count):
        target = t0 + i / rate
        while (remaining := target - time.perf_counter()) > 0:
            await asyncio.sleep(remaining - spin_s if remaining > spin_s else 0)
        lags.append((time.perf_counter() - target) * 1000.0)
    return lags


@pytest.mark.parametrize("rate", [200.0, 1000.0])
def test_schedule_accuracy(
    rate: float,
    local_ow: LocalOpenWhiskProcess,
    ow: OpenWhiskClient,
    figures: list[dict[str, Any]],
    benchmark: Any,
) -> None:
    """Send-time error and achieved rate at ``rate`` req/s (5 s); baselines: sleep-only timer, timer alone."""
    workload = _uniform("noop", rate, 5.0, blocking=False)
    cfg = SenderConfig(drain_s=20, max_in_flight=4096)  # measure the sender, not the server's backlog

    def run(config: SenderConfig, w: Workload = workload) -> SendResult:
        return OpenLoopSender(local_ow.apihost, local_ow.auth, local_ow.namespace, config).run(w)

    run(cfg, _uniform("noop", rate, 1.0, blocking=False))  # warm-up: containers exist before measuring
    result = benchmark.pedantic(run, args=(cfg,), rounds=1, iterations=1)
    baseline = run(replace(cfg, precise_timer=False, spin_s=0.0))
    floor = _pcts(asyncio.run(_timer_only(rate, int(rate * 3), cfg.spin_s)))
    ours = _open_loop_figures(f"open-loop {rate:g}/s", rate, result)
    base = _open_loop_figures(f"baseline sleep-only timer {rate:g}/s", rate, baseline)
    ours["lag_p99_vs_sleep_only"] = ours["lag_p99_ms"] / base["lag_p99_ms"] if base["lag_p99_ms"] else None
    ours["timer_floor_p50_ms"], ours["timer_floor_p99_ms"] = floor["p50"], floor["p99"]
    figures.extend([ours, base])
    benchmark.extra_info.update({"open_loop": ours, "baseline": base, "timer_floor": floor})
    assert ours["sent"] + ours["dropped"] == len(build_schedule(workload))


def _pool_run(
    apihost: str, auth: str, namespace: str, schedule: Schedule, workers: int, deadline_s: float
) -> tuple[list[float], list[float], list[float], int]:
    """FaaSProfiler's model: a timer thread hands each arrival to a pool of ``workers`` blocking senders."""
    url = invoke_url(apihost, namespace, schedule.arrivals[0].action, blocking=True)
    user, _, key = auth.partition(":")
    local = threading.local()
    sent: list[float] = []
    intended: list[float] = []
    completions: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = threading.Event()
    t0 = time.time() + 0.05

    def task(offset: float) -> None:
        if stop.is_set():
            return
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        at = time.time()
        try:
            ok = session.post(url, json={}, auth=(user, key), timeout=60).status_code == 200
        except requests.RequestException:
            ok = False
        done = time.time()
        with lock:
            sent.append(at)
            intended.append(t0 + offset)
            completions.append((done - (t0 + offset)) * 1000.0)
            errors[0] += not ok

    timer = threading.Event()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for arrival in schedule.arrivals:
            remaining = t0 + arrival.offset - time.time()
            if remaining > 0:
                timer.wait(remaining)
            pool.submit(task, arrival.offset)
        end = t0 + schedule.duration_s + deadline_s
        while pool._work_queue.qsize() and time.time() < end:  # bounded drain of the backlog
            timer.wait(0.1)
        stop.set()
    return sent, intended, completions, errors[0]


def test_no_coordinated_omission(
    local_ow: LocalOpenWhiskProcess, ow: OpenWhiskClient, figures: list[dict[str, Any]], benchmark: Any
) -> None:
    """200 ms action at 100 req/s for 10 s: the open-loop sender vs 16 blocking workers, same schedule."""
    rate, duration = 100.0, 10.0
    workload = _uniform("sleep200", rate, duration, blocking=True)
    schedule = build_schedule(workload)
    for _ in range(2):
        ow.invoke("sleep200", {})

    def run() -> SendResult:
        sender = OpenLoopSender(local_ow.apihost, local_ow.auth, local_ow.namespace, SenderConfig(drain_s=20))
        return sender.run(workload, schedule)

    result = benchmark.pedantic(run, rounds=1, iterations=1)
    join_activations(result, ow, settle_s=10)
    stats = analyze(result).functions["sleep200"]
    ours = _open_loop_figures("open-loop sleep200 100/s", rate, result)
    ours["cold_starts"] = stats["cold_count"]
    sent, intended, completions, errors = _pool_run(
        local_ow.apihost, local_ow.auth, local_ow.namespace, schedule, workers=16, deadline_s=30.0
    )
    pool = _send_figures(
        "pool of 16 blocking workers 100/s",
        rate,
        sent,
        intended,
        completions,
        dropped=len(schedule) - len(sent),
        errors=errors,
    )
    ours["achieved_vs_pool"] = ours["achieved_rps"] / pool["achieved_rps"]
    ours["completion_p99_vs_pool"] = ours["completion_p99_ms"] / pool["completion_p99_ms"]
    figures.extend([ours, pool])
    benchmark.extra_info.update({"open_loop": ours, "pool16": pool})
    assert ours["errors"] == 0


def test_schedule_reproducible(figures: list[dict[str, Any]], benchmark: Any) -> None:
    """Same seed -> same bytes in two fresh processes (hash salt differs); build time of 10k arrivals."""
    workload = Workload(
        "repro",
        10.0,
        seed=2024,
        instances=(Instance("p", "a", rate=700.0), Instance("u", "b", distribution="uniform", rate=300.0)),
    )
    schedule = benchmark(build_schedule, workload)
    code = (
        "import hashlib, sys\n"
        "from pytest_openwhisk.workload.spec import Instance, Workload\n"
        "from pytest_openwhisk.workload.schedule import build_schedule\n"
        "w = Workload('repro', 10.0, seed=2024, instances=(Instance('p', 'a', rate=700.0),"
        " Instance('u', 'b', distribution='uniform', rate=300.0)))\n"
        "print(hashlib.sha256(build_schedule(w).to_json_bytes()).hexdigest())\n"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": str(salt), "PATH": ""},
        ).stdout.strip()
        for salt in (1, 2)
    }
    here = hashlib.sha256(schedule.to_json_bytes()).hexdigest()
    figures.append(
        {
            "run": "reproducibility",
            "arrivals": len(schedule),
            "distinct_digests": len(digests | {here}),
            "sha256": here[:16],
        }
    )
    assert digests == {here}
