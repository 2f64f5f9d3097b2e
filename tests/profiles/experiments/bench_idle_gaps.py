"""The seed's idle-timeout question as a workload: open-loop arrivals 20 s apart, cold ratio per profile.

Not part of the test suite (the file name does not match ``test_*.py``); run it under two profiles with
``pytest-openwhisk matrix`` (docs/profiles.md)::

    pytest-openwhisk matrix --profile idle-10m --profile idle-15s --rounds 2 --metrics cold_ratio:2%,p50:5% \\
        -- tests/profiles/experiments/bench_idle_gaps.py -p no:cacheprovider

With a 15 s idle timeout every arrival after a 20 s gap finds its container destroyed (cold); with
OpenWhisk's 10 min only the first one is cold. One run takes about 105 s.
"""

from __future__ import annotations

from typing import Any

from pytest_openwhisk.catalog import deploy, load_catalog
from pytest_openwhisk.workload import Instance, Workload

GAP_S = 20.0
ARRIVALS = 6


def test_arrivals_20s_apart(ow_action: Any, ow_workload: Any) -> None:
    catalog = load_catalog()
    deploy(ow_action, catalog["echo-python"], catalog=catalog)
    gaps = (1.0, *([GAP_S] * (ARRIVALS - 1)))
    workload = Workload(
        "gaps-20s",
        duration_s=sum(gaps) + 1.0,
        seed=17,
        blocking=True,
        instances=(
            Instance("gaps", "echo-python", distribution="trace", interarrivals=gaps, params={"n": 1}),
        ),
    )
    analysis = ow_workload.run(workload, settle_s=10.0, plots=False)
    counts = analysis.functions[analysis.workload.actions[0]]
    assert counts["count"] == ARRIVALS, counts
    assert counts["errors"] == 0, counts
