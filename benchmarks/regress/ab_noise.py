"""Sequential vs interleaved regression gating under a seeded CPU noise neighbour (issue 13 "Must show").

One command::

    python benchmarks/regress/ab_noise.py --reps 20 --rounds 200

starts the embedded OpenWhisk (child process), then the bounded noise generator
(:class:`pytest_openwhisk.ab.noise.NoiseGenerator`: 2 spinning processes toggled on/off every 0.5-2 s,
seeded) for the whole run, and deploys two workloads:

* ``cpu``: a Python loop calibrated to ~10 ms of work (``n`` iterations, a default parameter);
* ``sleep``: ``time.sleep`` of ``--sleep-ms`` (default 10 ms).

For each workload, a ``base`` action and four ``head`` actions: ``A/A`` (identical code and parameters,
another action) and slowdowns of +3, +5 and +10 % of base's median client latency (measured under the
noise at the start): the CPU head runs proportionally more iterations, the sleep head sleeps longer.
Each repetition measures, for every workload and head, in a seeded random order of designs:

* **sequential**: ``--rounds`` warm invocations of base, then ``--rounds`` of head (two runs), compared
  by the regression gate (independent bootstrap, ``pytest_openwhisk.regress.gate.evaluate``);
* **interleaved**: ``--rounds`` random-order pairs (``pytest_openwhisk.ab.runner.run_ab``), compared by
  the A/B gate (paired randomization test, ``pytest_openwhisk.ab.gate.evaluate``).

Both designs use ``--rounds`` invocations per side and 5 warm-up invocations per side, alpha 0.01 and
2000 resamples. A cell counts the repetitions flagged ``REGRESSION`` (A/A: false alarms), under the A/B
default gate (``p50:3%,p95:5%,cold_ratio:2%,error_rate:1%``) and under 2 % thresholds
(``p50:2%``, ``p95:2%``, ``mean:2%``). Results are rewritten after every repetition to
``--out/ab_noise.{json,md}`` (raw latencies per comparison in ``ab_noise_raw.jsonl``); the wall time of
each design is the sum of its measurement phases.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pytest_openwhisk.ab import gate as ab_gate
from pytest_openwhisk.ab.noise import NoiseGenerator
from pytest_openwhisk.ab.runner import run_ab
from pytest_openwhisk.client import OpenWhiskClient
from pytest_openwhisk.local.config import LocalConfig, PoolConfig
from pytest_openwhisk.measure import Measurement, run_warm
from pytest_openwhisk.regress import gate as seq_gate
from pytest_openwhisk.regress.spec import GateRule, parse_gate

CPU_CODE = (
    "def main(args):\n    x = 0\n    for i in range(int(args['n'])):\n        x += i\n    return {'x': x}\n"
)
SLEEP_CODE = (
    "import time\n\ndef main(args):\n    time.sleep(float(args['ms']) / 1000)\n    return {'ok': True}\n"
)
VARIANTS = {"A/A": 0.0, "+3%": 0.03, "+5%": 0.05, "+10%": 0.10}
DESIGNS = ("sequential", "interleaved")
#: gates counted: the A/B default, and one rule per metric at the 2 % threshold of the issue
GATES: dict[str, list[GateRule]] = {
    "default": parse_gate(ab_gate.DEFAULT_AB_SPEC),
    "p50:2%": parse_gate("p50:2%"),
    "p95:2%": parse_gate("p95:2%"),
    "mean:2%": parse_gate("mean:2%"),
}
WARMUP = 5


def _server() -> Any:
    from pytest_openwhisk.local.process import LocalOpenWhiskProcess

    # room for every action of the benchmark (10 x 256 MB): no eviction, no cold start inside a measurement
    return LocalOpenWhiskProcess(LocalConfig.benchmark(pool=PoolConfig(user_memory_mb=4096)))


def _median(measurement: Measurement, key: str = "latency_ms") -> float:
    return float(np.median([getattr(s, key) for s in measurement.samples if s.ok]))


def _flagged(report: seq_gate.GateReport) -> bool:
    return not report.passed


def _deploy(client: OpenWhiskClient, rounds_probe: int) -> dict[str, dict[str, Any]]:
    """Deploy base and heads of both workloads; return per workload its names and calibration."""
    out: dict[str, dict[str, Any]] = {}
    # cpu: calibrate n for ~10 ms of activation duration (quiet machine, before the noise starts)
    client.create_action("cpu-base", CPU_CODE, kind="python:3", params={"n": 200_000})
    probe = run_warm(client, "cpu-base", rounds=30, warmup=3)
    n = int(200_000 * 10.0 / _median(probe, "duration_ms"))
    client.create_action("cpu-base", CPU_CODE, kind="python:3", params={"n": n})
    out["cpu"] = {"base": "cpu-base", "param": "n", "value": n}
    out["sleep"] = {"base": "sleep-base", "param": "ms", "value": None}
    return out


def _heads(
    client: OpenWhiskClient, workloads: dict[str, dict[str, Any]], sleep_ms: float, rounds_probe: int
) -> dict[str, Any]:
    """Measure base medians under the noise, deploy the heads; return the calibration for the report."""
    calibration: dict[str, Any] = {}
    if "sleep" in workloads:
        client.create_action("sleep-base", SLEEP_CODE, kind="python:3", params={"ms": sleep_ms})
        workloads["sleep"]["value"] = sleep_ms
    for workload, info in workloads.items():
        probe = run_warm(client, info["base"], rounds=rounds_probe, warmup=5)
        latency, duration = _median(probe), _median(probe, "duration_ms")
        info["heads"] = {}
        calibration[workload] = {
            "base_param": info["value"],
            "median_latency_ms": latency,
            "median_duration_ms": duration,
            "heads": {},
        }
        for label, share in VARIANTS.items():
            extra_ms = share * latency
            if workload == "cpu":
                value: float = round(info["value"] * (1 + extra_ms / duration))
            else:
                value = info["value"] + extra_ms
            name = f"{workload}-head-{label.strip('+%').replace('/', '')}"
            client.create_action(
                name,
                CPU_CODE if workload == "cpu" else SLEEP_CODE,
                kind="python:3",
                params={info["param"]: value},
            )
            info["heads"][label] = name
            calibration[workload]["heads"][label] = {
                "action": name,
                info["param"]: value,
                "injected_ms": extra_ms,
            }
    return calibration


class _Evictor:
    """``force_cold`` over the embedded server's admin evict call (what ``LocalBackend`` does)."""

    def __init__(self, server: Any) -> None:
        self.server = server

    def force_cold(self, client: OpenWhiskClient, action: str) -> None:
        """Evict ``action``'s warm containers."""
        self.server.evict(f"guest/{action}")


def _one(
    client: OpenWhiskClient,
    design: str,
    base: str,
    head: str,
    rounds: int,
    seed: int,
    evictor: _Evictor,
    containers: int,
) -> tuple[dict[str, bool], float, float, dict[str, Any]]:
    """Measure one comparison; return (flagged per gate, p50 ratio, wall seconds, details).

    Both designs start from fresh containers (both actions evicted first), so every repetition draws
    new containers; the interleaved design also spreads each side over ``containers`` containers.
    """
    for name in (base, head):
        evictor.force_cold(client, name)
    started = time.perf_counter()
    if design == "sequential":
        b = run_warm(client, base, rounds=rounds, warmup=WARMUP)
        h = run_warm(client, head, rounds=rounds, warmup=WARMUP)
    else:
        result = run_ab(
            client, evictor, base, head, rounds=rounds, warmup=WARMUP, seed=seed, containers=containers
        )
        b, h = result.base, result.head
    wall = time.perf_counter() - started
    comparison = ab_gate.AbComparison("bench", head=h, base=b)
    flagged: dict[str, bool] = {}
    rows: dict[str, Any] = {}
    for gate_name, rules in GATES.items():
        comparison.rules = rules
        if design == "sequential":
            base_run, head_run = ab_gate.runs([comparison])
            report = seq_gate.evaluate(base_run, head_run, rules)
        else:
            report = ab_gate.evaluate([comparison])
        flagged[gate_name] = _flagged(report)
        for row in report.comparisons:
            if row.rule is not None:
                rows[row.rule.metric] = {"verdict": row.verdict, "effect": row.effect, "p": row.p_value}
    details = {
        "latency_ms": [[s.latency_ms if s.ok else None for s in m.samples] for m in (b, h)],
        "duration_ms": [[s.duration_ms if s.ok else None for s in m.samples] for m in (b, h)],
        "sent": [[s.sent for s in m.samples] for m in (b, h)],
        "received": [[s.received for s in m.samples] for m in (b, h)],
        "rows": rows,
        "errors": [sum(not s.ok for s in m.samples) for m in (b, h)],
        "cold": [sum(s.cold for s in m.samples) for m in (b, h)],
        "p50_ms": [_median(m) for m in (b, h)],
    }
    return flagged, _median(h) / _median(b), wall, details


def _table(state: dict[str, Any]) -> list[str]:
    reps = state["reps_done"]
    lines = [
        f"# Sequential vs interleaved gating under CPU noise ({reps} repetitions x {state['rounds']} "
        f"invocations per side)",
        "",
        f"Embedded OpenWhisk (process mode), noise: {state['noise']}. Machine: {state['machine']}, "
        f"{state['cpus']} CPUs, shared with other engineers' test runs (not a quiet machine; load average "
        f"{state['load_start'][0]:.1f} at the start, {state.get('load_now', (0.0,))[0]:.1f} at the last "
        f"repetition). Interleaved: {state['containers']} containers per side (fresh ones every comparison). "
        f"Cells: repetitions flagged REGRESSION out of {reps}; 'default' is the A/B default gate "
        f"{ab_gate.DEFAULT_AB_SPEC}; alpha 0.01, 2000 resamples. Ratio: median over repetitions of "
        "head p50 / base p50.",
        "",
        "| workload | design | head | default | p50:2% | p95:2% | mean:2% | p50 ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for workload in state["workloads"]:
        for design in DESIGNS:
            for label in VARIANTS:
                cell = state["counts"][workload][design][label]
                ratio = state["ratios"][workload][design][label]
                shown = " | ".join(f"{cell[g]}/{reps}" for g in GATES)
                lines.append(
                    f"| {workload} | {design} | {label} | {shown} | "
                    f"{float(np.median(ratio)) if ratio else float('nan'):.3f} |"
                )
    lines += ["", "Wall time per design (all workloads and heads, measurement phases only):", ""]
    for design in DESIGNS:
        lines.append(f"* {design}: {state['wall_s'][design] / 60:.1f} min")
    lines.append(f"\nTotal elapsed: {state['elapsed_s'] / 60:.1f} min.")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; results under ``--out`` after every repetition."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--sleep-ms", type=float, default=10.0)
    parser.add_argument("--workloads", default="cpu,sleep")
    parser.add_argument("--noise-workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--designs", default=",".join(DESIGNS), help="subset, e.g. interleaved")
    parser.add_argument("--heads", default=",".join(VARIANTS), help="subset, e.g. A/A,+5%%")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument(
        "--containers", type=int, default=10, help="interleaved: containers per side (run_ab containers=)"
    )
    args = parser.parse_args(argv)
    workload_names = [w for w in args.workloads.split(",") if w]
    rng = random.Random(args.seed)
    started = time.time()
    state: dict[str, Any] = {
        "reps": args.reps,
        "reps_done": 0,
        "rounds": args.rounds,
        "workloads": workload_names,
        "noise": f"{args.noise_workers} spinning processes, on/off 0.5-2 s, seed {args.seed}",
        "containers": args.containers,
        "load_start": os.getloadavg(),
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "command": "python benchmarks/regress/"
        f"ab_noise.py --reps {args.reps} --rounds {args.rounds} --sleep-ms {args.sleep_ms:g} "
        f"--workloads {args.workloads} --seed {args.seed} --designs {args.designs} --heads {args.heads} "
        f"--containers {args.containers}",
        "counts": {
            w: {d: {v: dict.fromkeys(GATES, 0) for v in VARIANTS} for d in DESIGNS} for w in workload_names
        },
        "ratios": {w: {d: {v: [] for v in VARIANTS} for d in DESIGNS} for w in workload_names},
        "wall_s": dict.fromkeys(DESIGNS, 0.0),
        "elapsed_s": 0.0,
        "records": [],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ab_noise_raw.jsonl").write_text(
        "", encoding="utf-8"
    )  # one line per comparison, raw latencies
    with _server() as ow, OpenWhiskClient(ow.apihost, ow.auth, "_") as client:
        evictor = _Evictor(ow)
        workloads = _deploy(client, 100)
        workloads = {w: workloads[w] for w in workload_names}
        with NoiseGenerator(workers=args.noise_workers, seed=args.seed, max_duration_s=6 * 3600) as noise:
            state["calibration"] = _heads(client, workloads, args.sleep_ms, 100)
            print(json.dumps(state["calibration"], indent=1), flush=True)
            for rep in range(args.reps):
                jobs = [
                    (w, d, v)
                    for w in workload_names
                    for d in DESIGNS
                    for v in VARIANTS
                    if d in args.designs.split(",") and v in args.heads.split(",")
                ]
                rng.shuffle(jobs)
                for workload, design, label in jobs:
                    info = workloads[workload]
                    flagged, ratio, wall, details = _one(
                        client,
                        design,
                        info["base"],
                        info["heads"][label],
                        args.rounds,
                        seed=args.seed * 1000 + rep,
                        evictor=evictor,
                        containers=args.containers,
                    )
                    cell = state["counts"][workload][design][label]
                    for gate_name, hit in flagged.items():
                        cell[gate_name] += int(hit)
                    state["ratios"][workload][design][label].append(ratio)
                    state["wall_s"][design] += wall
                    raw = {key: details.pop(key) for key in ("latency_ms", "duration_ms", "sent", "received")}
                    with (args.out / "ab_noise_raw.jsonl").open("a", encoding="utf-8") as stream:
                        record = {"rep": rep, "workload": workload, "design": design, "head": label}
                        stream.write(json.dumps({**record, **raw}) + "\n")
                    state["records"].append(
                        {
                            "rep": rep,
                            "workload": workload,
                            "design": design,
                            "head": label,
                            "flagged": flagged,
                            "p50_ratio": ratio,
                            "wall_s": wall,
                            **details,
                        }
                    )
                state["reps_done"] = rep + 1
                state["elapsed_s"] = time.time() - started
                state["noise_duty_cycle"] = noise.duty_cycle()
                state["load_now"] = os.getloadavg()
                (args.out / "ab_noise.json").write_text(json.dumps(state, indent=1), encoding="utf-8")
                lines = _table(state)
                (args.out / "ab_noise.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
                print(
                    f"repetition {rep + 1}/{args.reps} done after {state['elapsed_s'] / 60:.1f} min",
                    flush=True,
                )
    print("\n".join(_table(state)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
