"""Re-run the A/B gate of this checkout on the raw latencies of an ``ab_noise.py`` run (no measuring).

::

    python benchmarks/regress/ab_regate.py results/ab_noise_raw.jsonl

For every interleaved comparison of the file (pair ``i`` = ``latency_ms[0][i]``, ``latency_ms[1][i]``)
it evaluates the A/B default gate and ``p50:2%`` with :func:`pytest_openwhisk.ab.gate.evaluate`, and
prints per workload and head the repetitions flagged ``REGRESSION`` and the median ``p50`` estimate.
``--flip`` first swaps each pair's labels by a seeded coin (any effect becomes symmetric noise: a
calibration check, every row should be flagged at most at the ``alpha`` rate); with ``--containers K``
(the run's) the pairs form ``K`` container blocks as ``run_ab`` recorded them.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pytest_openwhisk.ab import gate as ab_gate
from pytest_openwhisk.measure import Measurement, measurement_from_samples
from pytest_openwhisk.regress.spec import parse_gate
from pytest_openwhisk.samples import CLIENT_ERROR, STATUS_SUCCESS, Sample

GATES = {"default": parse_gate(ab_gate.DEFAULT_AB_SPEC), "p50:2%": parse_gate("p50:2%")}


def _measurement(name: str, latencies: Sequence[float | None]) -> Measurement:
    samples = [
        Sample(
            name,
            0.0,
            0.0,
            float(v or 0.0),
            200 if v is not None else 0,
            STATUS_SUCCESS if v is not None else CLIENT_ERROR,
        )
        for v in latencies
    ]
    return measurement_from_samples(name, "warm", name, samples, {})


def main(argv: Sequence[str] | None = None) -> int:
    """Print the re-evaluated cells of one raw file."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("raw", type=Path, help="ab_noise_raw.jsonl of an ab_noise.py run")
    parser.add_argument("--flip", action="store_true", help="swap each pair's labels by a seeded coin")
    parser.add_argument(
        "--containers", type=int, default=1, help="containers per side of the run (its --containers)"
    )
    args = parser.parse_args(argv)
    coin = random.Random(1)
    cells: dict[tuple[str, str, str], list[Any]] = {}
    for line in args.raw.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["design"] != "interleaved":
            continue
        base, head = record["latency_ms"]
        if args.flip:
            swapped = [(h, b) if coin.random() < 0.5 else (b, h) for b, h in zip(base, head, strict=True)]
            base, head = [p[0] for p in swapped], [p[1] for p in swapped]
        comparison = ab_gate.AbComparison(
            "x", head=_measurement("head", head), base=_measurement("base", base)
        )
        if args.containers > 1:  # the blocks run_ab(containers=K) records
            assert comparison.base is not None
            n = len(base)
            comparison.base.extra["blocks"] = sorted(
                {n * k // args.containers for k in range(args.containers)}
            )
        for gate_name, rules in GATES.items():
            comparison.rules = rules
            report = ab_gate.evaluate([comparison])
            cell = cells.setdefault((record["workload"], record["head"], gate_name), [0, 0, []])
            cell[0] += not report.passed
            cell[1] += 1
            cell[2] += [row.effect for row in report.comparisons if row.rule and row.rule.metric == "p50"]
    for (workload, head, gate_name), (flagged, total, effects) in sorted(cells.items()):
        print(
            f"{workload:6s} {head:5s} {gate_name:8s} flagged {flagged}/{total}  "
            f"p50 change (median) {float(np.median(effects)) - 1:+.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
