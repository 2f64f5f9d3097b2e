"""Fingerprint differences and run loading (storage references, bad files)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_openwhisk.errors import ConfigError
from pytest_openwhisk.regress import fingerprint
from pytest_openwhisk.regress.load import RunNotFound, Storage, load_run

BuildRun = Callable[..., dict[str, Any]]
SaveJson = Callable[[Path, dict[str, Any]], Path]


def test_differences_name_field_old_and_new(base_fingerprint: dict[str, Any]) -> None:
    new = copy.deepcopy(base_fingerprint)
    new["backend"] = "kind"
    new["limits"]["memory_mb_max"] = 1024
    new["apihost"] = "http://127.0.0.1:5555"  # volatile: ignored
    diffs = fingerprint.diff(base_fingerprint, new)
    assert [str(d) for d in diffs] == ['backend: "local" -> "kind"', "limits.memory_mb_max: 512 -> 1024"]
    message = str(fingerprint.FingerprintMismatch(diffs, "0001_base", "this run"))
    assert "refusing to compare 0001_base with this run" in message
    assert '  backend: "local" -> "kind"' in message
    assert "--ow-regression-allow-fingerprint-mismatch" in message


def test_added_removed_and_missing_fingerprints(base_fingerprint: dict[str, Any]) -> None:
    FINGERPRINT = base_fingerprint
    new = {**FINGERPRINT, "extra": True}
    del new["kinds"]
    assert [str(d) for d in fingerprint.diff(FINGERPRINT, new)] == [
        "extra: (absent) -> true",
        'kinds: ["nodejs:20", "python:3.11"] -> (absent)',
    ]
    assert [str(d) for d in fingerprint.diff(None, FINGERPRINT)] == [
        'ow_fingerprint: (absent) -> "(present)"'
    ]
    assert fingerprint.diff(None, None) == []
    assert fingerprint.diff(FINGERPRINT, copy.deepcopy(FINGERPRINT)) == []


def _storage(tmp_path: Path, build_run: BuildRun, names: list[str]) -> Storage:
    storage = Storage(tmp_path / ".benchmarks", "Linux-CPython-3.11-64bit")
    for name in names:
        path = storage.directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(build_run({"t": [1.0, 2.0]})), encoding="utf-8")
    return storage


def test_storage_references(tmp_path: Path, build_run: BuildRun) -> None:
    storage = _storage(tmp_path, build_run, ["0001_a.json", "0002_b.json", "0010_c.json"])
    assert storage.resolve("latest").name == "0010_c.json"
    assert storage.resolve("latest~2").name == "0001_a.json"
    assert storage.resolve("0002").name == "0002_b.json"
    assert storage.resolve(str(storage.directory / "0001_a.json")).name == "0001_a.json"
    run = storage.load("latest")
    assert run.label == "0010_c"
    assert run.fingerprint is not None
    assert run.fingerprint["backend"] == "local"
    assert list(run.benchmarks) == ["benchmarks/test_x.py::t"]


@pytest.mark.parametrize(
    ("ref", "fragment"),
    [
        ("latest~5", "run 'latest~5' does not exist: saved runs in"),
        ("0042", "run id '0042' not found: saved runs in"),
        ("missing.json", "benchmark file 'missing.json' does not exist; give a JSON file path, 'latest'"),
        ("yesterday", "invalid run reference 'yesterday'"),
    ],
)
def test_bad_references_list_what_exists(
    tmp_path: Path, build_run: BuildRun, ref: str, fragment: str
) -> None:
    storage = _storage(tmp_path, build_run, ["0001_a.json", "0002_b.json"])
    with pytest.raises(RunNotFound) as info:
        storage.resolve(ref)
    assert fragment in str(info.value)


def test_ambiguous_id_and_empty_storage(tmp_path: Path, build_run: BuildRun) -> None:
    storage = _storage(tmp_path, build_run, ["0001_a.json", "0001_b.json"])
    with pytest.raises(RunNotFound, match="ambiguous"):
        storage.resolve("0001")
    other = Storage(tmp_path / ".benchmarks", "Darwin-CPython-3.12-64bit")
    with pytest.raises(RunNotFound) as info:
        other.resolve("latest")
    assert "machine directories present: Linux-CPython-3.11-64bit" in str(info.value)
    assert "--benchmark-autosave" in str(info.value)


def test_unreadable_files_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"cannot read benchmark file .*bad\.json"):
        load_run(bad)
    bad.write_text(json.dumps({"hello": 1}), encoding="utf-8")
    with pytest.raises(ConfigError, match="is not pytest-benchmark JSON"):
        load_run(bad)


def test_plain_pytest_benchmark_data_is_used_as_latency(tmp_path: Path, save_json: SaveJson) -> None:
    data = {
        "benchmarks": [
            {
                "name": "test_f",
                "fullname": "t.py::test_f",
                "extra_info": {},
                "stats": {"data": [0.001, 0.002], "median": 0.0015},
            }
        ]
    }
    run = load_run(save_json(tmp_path / "plain.json", data))
    assert list(run.benchmarks["t.py::test_f"].series("latency_ms")) == [1.0, 2.0]
    assert run.fingerprint is None
