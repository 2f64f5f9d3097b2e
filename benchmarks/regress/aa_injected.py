"""A/A false alarms and injected-regression detection of the regression gate on the embedded OpenWhisk.

For each of ``--pairs`` repetitions, five actions are measured with ``--rounds`` warm invocations each,
in a shuffled (seeded) order: ``base`` (sleeps ``--sleep-ms``), ``same`` (identical code, deployed as
another action: the A/A twin) and three copies whose sleep is longer by 5 %, 10 % and 25 % of the
measured median latency of ``base``. Each repetition compares ``base`` with every other action using
the gate at its default settings (alpha 0.01, 2000 seeded bootstrap resamples) and counts, per metric,
how many repetitions the gate flags. Usage::

    python benchmarks/regress/aa_injected.py --pairs 20 --rounds 200 --out benchmarks/regress/results
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pytest_openwhisk.client import OpenWhiskClient
from pytest_openwhisk.local.config import LocalConfig
from pytest_openwhisk.measure import run_warm
from pytest_openwhisk.regress import gate
from pytest_openwhisk.regress.load import Run, run_from_json
from pytest_openwhisk.regress.spec import parse_gate

CODE = "import time\n\ndef main(args):\n    time.sleep({seconds!r})\n    return {{'ok': True}}\n"
#: one rule per metric so each is counted on its own; the suggested gate is p50:5%,p95:5%
RULES = parse_gate("p50:5%,p90:5%,p95:5%,p99:10%,mean:5%,error_rate:1%,cold_ratio:2%")
SUGGESTED = ("p50", "p95")


def _server(mode: str) -> Any:
    config = LocalConfig.benchmark()
    if mode == "process":
        try:
            from pytest_openwhisk.local.process import LocalOpenWhiskProcess

            return LocalOpenWhiskProcess(config)
        except ImportError:
            print("local/process.py not available: using the thread form")
    from pytest_openwhisk.local.server import LocalOpenWhisk

    return LocalOpenWhisk(config)


def _run(name: str, samples: dict[str, list[Any]], fingerprint: dict[str, Any]) -> Run:
    entry = {"name": "test_sleep", "fullname": "aa::test_sleep", "extra_info": {"ow_samples": samples}}
    return run_from_json({"benchmarks": [entry], "machine_info": {"ow_fingerprint": fingerprint}}, name)


def _measure(client: OpenWhiskClient, action: str, rounds: int, warmup: int = 5) -> dict[str, list[Any]]:
    m = run_warm(client, action, rounds=rounds, warmup=warmup)
    return {
        "latency_ms": [s.latency_ms for s in m.samples],
        "duration_ms": [s.duration_ms for s in m.samples],
        "cold": [int(s.cold) for s in m.samples],
        "error": [int(not s.ok) for s in m.samples],
    }


def _measure_all(
    client: OpenWhiskClient, names: dict[str, str], rounds: int, chunk: int, rng: random.Random
) -> dict[str, dict[str, list[Any]]]:
    """``rounds`` invocations per action: one block each (chunk 0) or interleaved chunks, shuffled order."""
    order = list(names)
    if chunk <= 0:
        rng.shuffle(order)
        return {label: _measure(client, names[label], rounds) for label in order}
    out: dict[str, dict[str, list[Any]]] = {label: {} for label in names}
    for index in range(0, rounds, chunk):
        rng.shuffle(order)
        for label in order:
            part = _measure(client, names[label], min(chunk, rounds - index), warmup=5 if index == 0 else 1)
            for key, values in part.items():
                out[label].setdefault(key, []).extend(values)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run the experiment; write ``sequential|interleaved.md`` and ``.json`` under ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--sleep-ms", type=float, default=20.0)
    parser.add_argument("--mode", choices=("process", "thread"), default="process")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--interleave",
        type=int,
        default=0,
        metavar="CHUNK",
        help="measure in alternating chunks of CHUNK invocations (0: one block per action)",
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    order_rng = random.Random(args.seed)
    started = time.time()
    fingerprint = {"backend": "local", "host": platform.node(), "sleep_ms": args.sleep_ms}
    with _server(args.mode) as ow, OpenWhiskClient(ow.apihost, ow.auth, "_") as client:
        client.create_action("base", CODE.format(seconds=args.sleep_ms / 1000), kind="python:3")
        probe = run_warm(client, "base", rounds=100, warmup=5)
        median = float(np.median([s.latency_ms for s in probe.samples if s.ok]))
        variants = {"same": 0.0, "+5%": 0.05, "+10%": 0.10, "+25%": 0.25}
        names = {"base": "base", **{label: f"v{label.strip('+%')}" for label in variants}}
        for label, share in variants.items():
            seconds = (args.sleep_ms + share * median) / 1000
            client.create_action(names[label], CODE.format(seconds=seconds), kind="python:3")
        print(
            f"median latency of base: {median:.2f} ms; injected sleeps: "
            + ", ".join(f"{k}={v * median:.2f}ms" for k, v in variants.items() if v)
        )
        counts = {label: {rule.metric: 0 for rule in RULES} | {"suggested": 0} for label in variants}
        ratios: dict[str, list[float]] = {label: [] for label in variants}
        for rep in range(args.pairs):
            measured = _measure_all(client, names, args.rounds, args.interleave, order_rng)
            base = _run("base", measured["base"], fingerprint)
            for label in variants:
                report = gate.evaluate(base, _run(label, measured[label], fingerprint), RULES)
                failed = {c.rule.metric for c in report.failures if c.rule}
                for metric in failed:
                    counts[label][metric] += 1
                counts[label]["suggested"] += bool(failed & set(SUGGESTED))
                p50 = next(c for c in report.comparisons if c.rule and c.rule.metric == "p50")
                ratios[label].append(float(p50.effect or np.nan))
            print(
                f"pair {rep + 1}/{args.pairs}: "
                + ", ".join(f"{label} p50 x{ratios[label][-1]:.3f}" for label in variants),
                flush=True,
            )
    elapsed = time.time() - started
    summary = {
        "pairs": args.pairs,
        "rounds": args.rounds,
        "interleave": args.interleave,
        "sleep_ms": args.sleep_ms,
        "mode": args.mode,
        "median_latency_ms": median,
        "alpha": gate.DEFAULT_ALPHA,
        "resamples": gate.DEFAULT_RESAMPLES,
        "flagged": counts,
        "p50_ratio_median": {k: float(np.median(v)) for k, v in ratios.items()},
        "elapsed_s": elapsed,
        "machine": platform.platform(),
        "cpus": __import__("os").cpu_count(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "interleaved" if args.interleave > 0 else "sequential"
    (args.out / f"{stem}.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    metrics = [rule.metric for rule in RULES] + ["suggested"]
    thresholds = {rule.metric: rule.describe() for rule in RULES}
    design = (
        f"interleaved in chunks of {args.interleave}"
        if args.interleave > 0
        else "one block per action, shuffled order"
    )
    lines = [
        f"# Regression gate: A/A and injected regressions ({args.pairs} pairs x {args.rounds} warm "
        f"invocations, embedded OpenWhisk, {args.mode} mode, {design})",
        "",
        f"Action: python:3 sleeping {args.sleep_ms:g} ms; median client latency {median:.2f} ms. "
        f"Injected sleeps are 5/10/25 % of that median. Gate defaults: alpha={gate.DEFAULT_ALPHA}, "
        f"{gate.DEFAULT_RESAMPLES} bootstrap resamples. Cells: pairs flagged as REGRESSION out of "
        f"{args.pairs} (rule threshold in the header; 'suggested' = p50:5% or p95:5%). "
        f"Took {elapsed / 60:.1f} min on {summary['cpus']} CPUs.",
        "",
        "| current vs base | median p50 ratio | "
        + " | ".join(f"{r} ({thresholds.get(r, 'p50 or p95')})" for r in metrics)
        + " |",
        "|---" * (len(metrics) + 2) + "|",
    ]
    for label in variants:
        lines.append(
            f"| {label} | {summary['p50_ratio_median'][label]:.3f} | "
            + " | ".join(f"{counts[label][m]}/{args.pairs}" for m in metrics)
            + " |"
        )
    (args.out / f"{stem}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
