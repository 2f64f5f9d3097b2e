"""Schedules: rates, windows, traces and seeds (same seed -> same bytes; instances independent)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from pytest_openwhisk.workload.schedule import build_schedule, instance_offsets, stable_hash
from pytest_openwhisk.workload.spec import Instance, Workload


def _workload(seed: int = 7, **inst: object) -> Workload:
    base: dict[str, object] = {"name": "a", "action": "hello", "distribution": "poisson", "rate": 100.0}
    base.update(inst)
    return Workload(name="w", duration_s=20.0, seed=seed, instances=(Instance(**base),))  # type: ignore[arg-type]


def test_poisson_rate_and_exponential_gaps() -> None:
    offsets = instance_offsets(_workload().instances[0], 20.0, 7)
    # 2000 expected; Poisson sd = sqrt(2000) ~ 45, so +-5 sd is a deterministic (seeded) safe band
    assert 1775 < len(offsets) < 2225
    gaps = np.diff(offsets)
    assert gaps.mean() == pytest.approx(0.01, rel=0.05)
    assert gaps.std() == pytest.approx(0.01, rel=0.1)  # exponential: sd == mean
    assert np.all(gaps >= 0)


def test_uniform_rate_is_exact_with_random_phase() -> None:
    inst = Instance("u", "hello", distribution="uniform", rate=10.0, window=(5.0, 10.0))
    offsets = instance_offsets(inst, 20.0, 1)
    assert len(offsets) == 50
    assert np.allclose(np.diff(offsets), 0.1)
    assert 5.0 <= offsets[0] < 5.1
    other = instance_offsets(inst, 20.0, 2)
    assert offsets[0] != other[0]  # the phase depends on the seed


def test_window_bounds_every_arrival() -> None:
    offsets = instance_offsets(Instance("p", "hello", rate=25.0, window=(5.0, 10.0)), 15.0, 100)
    assert offsets.min() >= 5.0
    assert offsets.max() < 10.0
    assert 80 < len(offsets) < 170  # 125 expected


def test_window_is_clipped_to_test_duration() -> None:
    offsets = instance_offsets(Instance("p", "hello", rate=50.0, window=(1.0, 100.0)), 3.0, 1)
    assert offsets.max() < 3.0


def test_zero_rate_means_no_arrivals() -> None:
    assert len(instance_offsets(Instance("z", "hello", rate=0.0), 10.0, 1)) == 0


def test_trace_replays_gaps_and_cuts_at_duration() -> None:
    gaps = (5, 0.13, 0.15, 0.8, 0.1, 0.13, 0.13, 0.1, 0.4)  # FaaSProfiler's shipped example
    inst = Instance("s", "hello", distribution="trace", interarrivals=gaps)
    assert instance_offsets(inst, 15.0, 0) == pytest.approx(np.cumsum(gaps))
    assert instance_offsets(inst, 5.5, 0) == pytest.approx([5, 5.13, 5.28])


def test_same_seed_gives_byte_identical_schedule() -> None:
    w = Workload(
        "mix",
        10.0,
        seed=42,
        instances=(
            Instance("p", "a", rate=30.0),
            Instance("u", "b", distribution="uniform", rate=7.0, window=(2, 8)),
            Instance("t", "a", distribution="trace", interarrivals=(0.5, 0.25)),
        ),
    )
    assert build_schedule(w).to_json_bytes() == build_schedule(w).to_json_bytes()


def test_schedule_bytes_are_identical_across_processes() -> None:
    """Python's str hash is salted per process; ours must not be."""
    code = (
        "from pytest_openwhisk.workload.spec import Instance, Workload\n"
        "from pytest_openwhisk.workload.schedule import build_schedule\n"
        "import sys\n"
        "w = Workload('x', 5.0, seed=3, instances=(Instance('p', 'a', rate=40.0),"
        " Instance('u', 'a', distribution='uniform', rate=9.0)))\n"
        "sys.stdout.buffer.write(build_schedule(w).to_json_bytes())\n"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            check=True,
            env={"PYTHONHASHSEED": str(i), "PATH": ""},
        ).stdout
        for i in (1, 2)
    }
    assert len(outs) == 1


def test_different_seed_gives_different_schedule() -> None:
    one, two = build_schedule(_workload(seed=1)), build_schedule(_workload(seed=2))
    assert one.to_json_bytes() != two.to_json_bytes()


def test_instances_have_independent_streams() -> None:
    """Two instances with the same rate do not share arrivals (FaaSProfiler's shared-seed bug)."""
    w = Workload("two", 5.0, seed=9, instances=(Instance("a", "f", rate=20.0), Instance("b", "f", rate=20.0)))
    a, b = (instance_offsets(i, 5.0, 9) for i in w.instances)
    assert not np.array_equal(a[:10], b[:10])


def test_adding_an_instance_keeps_the_others_unchanged() -> None:
    one = Workload("w", 5.0, seed=9, instances=(Instance("a", "f", rate=20.0),))
    two = Workload("w", 5.0, seed=9, instances=(Instance("a", "f", rate=20.0), Instance("b", "g", rate=5.0)))
    keep = [x.offset for x in build_schedule(two).arrivals if x.instance == "a"]
    assert keep == [x.offset for x in build_schedule(one).arrivals]


def test_schedule_merges_instances_in_time_order() -> None:
    w = Workload("m", 4.0, seed=1, instances=(Instance("a", "f", rate=20.0), Instance("b", "g", rate=20.0)))
    sched = build_schedule(w)
    offsets = [a.offset for a in sched.arrivals]
    assert offsets == sorted(offsets)
    assert [a.seq for a in sched.arrivals] == list(range(len(sched)))
    assert set(sched.counts()) == {"a", "b"}
    assert sum(sched.counts().values()) == len(sched)


def test_stable_hash_is_fixed() -> None:
    assert stable_hash("base64-python") == stable_hash("base64-python")
    assert stable_hash("a") != stable_hash("b")
