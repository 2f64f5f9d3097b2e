"""Workload descriptions: our JSON round trip, FaaSProfiler's format, and validation messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_openwhisk.errors import ConfigError
from pytest_openwhisk.workload.faasprofiler import from_faasprofiler
from pytest_openwhisk.workload.files import load, load_faasprofiler
from pytest_openwhisk.workload.schedule import build_schedule
from pytest_openwhisk.workload.spec import Instance, Workload, WorkloadError, from_json

#: FaaSProfiler's shipped example (workload_configs.json), as its users write it
FAASPROFILER_EXAMPLE: dict[str, Any] = {
    "test_name": "example_test",
    "test_duration_in_seconds": 15,
    "random_seed": 100,
    "blocking_cli": False,
    "instances": {
        "instance1": {
            "application": "base64-python",
            "distribution": "Poisson",
            "rate": 25,
            "activity_window": [5, 10],
        },
        "instance2": {
            "application": "base64-nodejs",
            "distribution": "Uniform",
            "rate": 10,
            "activity_window": [5, 10],
        },
        "instance3": {
            "application": "base64-swift",
            "interarrivals_list": [5, 0.13, 0.15, 0.8, 0.1, 0.13, 0.13, 0.1, 0.4],
        },
    },
    "perf_monitoring": {"runtime_script": "monitoring/RuntimeMonitoring.sh", "post_script": None},
}


def test_faasprofiler_example_is_read_as_is() -> None:
    w = from_faasprofiler(FAASPROFILER_EXAMPLE)
    assert (w.name, w.duration_s, w.seed, w.blocking) == ("example_test", 15.0, 100, False)
    by_name = {i.name: i for i in w.instances}
    assert by_name["instance1"].distribution == "poisson"
    assert by_name["instance1"].window == (5.0, 10.0)
    assert by_name["instance2"].distribution == "uniform"
    assert by_name["instance3"].distribution == "trace"
    assert w.hooks == {"runtime_script": "monitoring/RuntimeMonitoring.sh"}
    counts = build_schedule(w).counts()
    assert counts["instance2"] == 50
    assert counts["instance3"] == 9
    assert 80 < counts["instance1"] < 170


def test_load_detects_faasprofiler_files_and_resolves_param_files(tmp_path: Path) -> None:
    (tmp_path / "params.json").write_text('{"n": 3}')
    cfg = {
        **FAASPROFILER_EXAMPLE,
        "instances": {
            "i": {"application": "a", "distribution": "Poisson", "rate": 55, "param_file": "params.json"}
        },
    }
    path = tmp_path / "workload_configs.json"
    path.write_text(json.dumps(cfg))
    for w in (load(path), load_faasprofiler(path)):
        assert w.instances[0].body(w.base_dir) == b'{"n": 3}'


def test_null_seed_draws_and_records_a_seed() -> None:
    w = from_faasprofiler({**FAASPROFILER_EXAMPLE, "random_seed": None})
    assert isinstance(w.seed, int)
    assert w.seed >= 0


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"test_duration_in_seconds": 0}, "test_duration_in_seconds = 0 is invalid: must be a number > 0"),
        ({"test_name": 5}, "test_name = 5 is invalid: must be a non-empty string"),
        ({"blocking_cli": "yes"}, "blocking_cli = 'yes' is invalid: must be true or false"),
        ({"random_seed": -1}, "random_seed = -1 is invalid"),
        ({"instances": {}}, "instances = {} is invalid"),
        ({"extra": 1}, "top-level keys = ['extra'] is invalid"),
        (
            {"instances": {"i": {"application": "a", "distribution": "Gaussian", "rate": 5}}},
            "instances['i'].distribution = 'Gaussian' is invalid: "
            "supported distributions are Poisson, Uniform",
        ),
        (
            {"instances": {"i": {"application": "a", "distribution": "Poisson", "rate": -2}}},
            "instances['i'].rate = -2 is invalid",
        ),
        (
            {
                "instances": {
                    "i": {"application": "a", "distribution": "Poisson", "rate": 2, "activity_window": [5]}
                }
            },
            "instances['i'].activity_window = [5] is invalid: must be a list of length 2",
        ),
        (
            {
                "instances": {
                    "i": {"application": "a", "distribution": "Poisson", "rate": 2, "activity_window": [8, 3]}
                }
            },
            "instances['i'].activity_window = [8, 3] is invalid: the end must be greater than the start",
        ),
        (
            {"instances": {"i": {"distribution": "Poisson", "rate": 2}}},
            "instances['i'].application = None is invalid",
        ),
    ],
)
def test_faasprofiler_validation_names_field_value_and_fix(patch: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        from_faasprofiler({**FAASPROFILER_EXAMPLE, **patch})
    assert message in str(info.value)
    assert ";" in str(info.value)  # every message carries a fix after the semicolon


def test_missing_required_field_is_named() -> None:
    cfg = {k: v for k, v in FAASPROFILER_EXAMPLE.items() if k != "random_seed"}
    with pytest.raises(WorkloadError, match=r"random_seed = None is invalid: the field is required"):
        from_faasprofiler(cfg)


def test_our_json_round_trips(tmp_path: Path) -> None:
    w = Workload(
        "rt",
        12.0,
        seed=5,
        blocking=True,
        instances=(
            Instance("a", "hello", rate=3.0, window=(1.0, 4.0), params={"x": 1}),
            Instance("b", "hello", distribution="trace", interarrivals=(0.5, 0.5), blocking=False),
        ),
    )
    path = w.dump(tmp_path / "w.json")
    back = load(path)
    assert back.to_json() == w.to_json()
    assert build_schedule(back).to_json_bytes() == build_schedule(w).to_json_bytes()
    assert back.is_blocking(back.instances[0]) is True
    assert back.is_blocking(back.instances[1]) is False


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"distribution": "gaussian"},
            "distribution = 'gaussian' is invalid: allowed values are poisson, uniform",
        ),
        ({"rate": -1}, "rate = -1 is invalid: must be >= 0"),
        ({"rate": float("nan")}, "rate = nan is invalid: expected a finite number"),
        ({"distribution": "trace"}, "interarrivals = () is invalid: a trace needs a non-empty list"),
        ({"interarrivals": (1.0,)}, "only allowed with distribution 'trace'"),
        ({"window": (1.0,)}, "window = (1.0,) is invalid: expected [start_s, end_s]"),
        ({"params": {"a": 1}, "param_file": "p.json"}, "params and param_file are exclusive"),
        ({"action": ""}, "action = '' is invalid"),
    ],
)
def test_instance_validation(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"name": "i", "action": "hello", "rate": 1.0, **kwargs}
    with pytest.raises(WorkloadError, match="is invalid") as info:
        Instance(**args)
    assert message in str(info.value)


def test_workload_validation() -> None:
    inst = Instance("i", "hello", rate=1.0)
    with pytest.raises(WorkloadError, match=r"duration_s = 0 is invalid: must be > 0"):
        Workload("w", 0, instances=(inst,))
    with pytest.raises(WorkloadError, match=r"seed = -3 is invalid"):
        Workload("w", 5, seed=-3, instances=(inst,))
    with pytest.raises(WorkloadError, match=r"instance names must be unique"):
        Workload("w", 5, instances=(inst, inst))
    with pytest.raises(WorkloadError, match=r"starts at or after the end of the test \(5s\)"):
        Workload("w", 5, instances=(Instance("late", "hello", rate=1.0, window=(6, 9)),))


def test_our_json_rejects_typos() -> None:
    with pytest.raises(WorkloadError, match=r"instances\['a'\] keys = \['rat'\] is invalid"):
        from_json({"name": "w", "duration_s": 5, "instances": {"a": {"action": "x", "rat": 5}}})


def test_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(WorkloadError, match="does not exist"):
        load(tmp_path / "nope.json")
    inst = Instance("i", "hello", rate=1.0, param_file="missing.json")
    with pytest.raises(WorkloadError, match=r"missing.json' does not exist"):
        inst.body(tmp_path)
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(WorkloadError, match="must hold a JSON object"):
        Instance("i", "hello", rate=1.0, param_file="bad.json").body(tmp_path)
