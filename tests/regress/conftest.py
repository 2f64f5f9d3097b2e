"""Synthetic pytest-benchmark runs in the schema of docs/architecture.md (ow_samples, ow_fingerprint)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

FINGERPRINT: dict[str, Any] = {
    "backend": "local",
    "versions": {"pytest_openwhisk": "0.1.0", "python": "3.11.7"},
    "kinds": ["nodejs:20", "python:3.11"],
    "limits": {"memory_mb_max": 512, "concurrent_invocations": 1000},
    "pool": {"user_memory_mb": 2048, "prewarm": [["nodejs:20", 2]]},
    "apihost": "http://127.0.0.1:40111",
}

BuildRun = Callable[..., dict[str, Any]]


def latencies(
    rng: np.random.Generator, n: int = 200, base_ms: float = 22.0, extra_ms: float = 0.0
) -> list[float]:
    """Latency-like data: a floor plus a right-skewed lognormal tail (like a real warm action)."""
    return [float(v) for v in base_ms + extra_ms + rng.lognormal(0.5, 0.6, n)]


def bench_entry(
    name: str, latency_ms: list[float], cold: list[int] | None = None, error: list[int] | None = None
) -> dict[str, Any]:
    """One pytest-benchmark entry with pytest-openwhisk's extra_info."""
    n = len(latency_ms)
    data = np.asarray(latency_ms) / 1000.0
    return {
        "group": None,
        "name": name,
        "fullname": f"benchmarks/test_x.py::{name}",
        "params": None,
        "param": None,
        "extra_info": {
            "ow_mode": "warm",
            "ow_action": name,
            "ow_summary": {
                "count": n,
                "latency_ms": {
                    "p50": float(np.median(latency_ms)),
                    "p95": float(np.quantile(latency_ms, 0.95)),
                },
            },
            "ow_samples": {
                "latency_ms": latency_ms,
                "duration_ms": [v - 2 for v in latency_ms],
                "wait_ms": [1.0] * n,
                "init_ms": [None] * n,
                "cold": cold if cold is not None else [0] * n,
                "error": error if error is not None else [0] * n,
            },
        },
        "options": {},
        "stats": {
            "min": float(data.min()),
            "max": float(data.max()),
            "mean": float(data.mean()),
            "median": float(np.median(data)),
            "rounds": n,
            "iterations": 1,
        },
    }


@pytest.fixture
def build_run() -> BuildRun:
    """``build_run({"test_a": [ms...]}, fingerprint=..., cold={...}, error={...})`` -> JSON dict."""

    def build(
        latency: Mapping[str, list[float]],
        *,
        fingerprint: dict[str, Any] | None = None,
        cold: Mapping[str, list[int]] | None = None,
        error: Mapping[str, list[int]] | None = None,
        when: str = "2024-06-01T12:00:00",
    ) -> dict[str, Any]:
        benchmarks = [
            bench_entry(name, values, (cold or {}).get(name), (error or {}).get(name))
            for name, values in latency.items()
        ]
        return {
            "machine_info": {"node": "local", "ow_fingerprint": fingerprint or FINGERPRINT},
            "commit_info": {"id": "abc"},
            "benchmarks": benchmarks,
            "datetime": when,
            "version": "5.2.3",
        }

    return build


def write_json(path: Path, data: dict[str, Any]) -> Path:
    """Write ``data`` as JSON (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def save_json() -> Callable[[Path, dict[str, Any]], Path]:
    """``save_json(path, data)`` writes JSON and returns the path."""
    return write_json


@pytest.fixture
def base_fingerprint() -> dict[str, Any]:
    """A copy of the synthetic runs' ``ow_fingerprint``."""
    return copy.deepcopy(FINGERPRINT)


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator: synthetic data is the same on every run."""
    return np.random.default_rng(12345)


Latency = Callable[..., list[float]]


@pytest.fixture
def latency(rng: np.random.Generator) -> Latency:
    """``latency(n=200, extra_ms=0.0)``: seeded latency-like samples in ms."""

    def make(n: int = 200, extra_ms: float = 0.0, base_ms: float = 22.0) -> list[float]:
        return latencies(rng, n, base_ms, extra_ms)

    return make


@pytest.fixture(scope="session", autouse=True)
def _scipy_fully_imported() -> None:
    """Load scipy's lazily imported submodules in this process before any in-process pytester run.

    pytester restores ``sys.modules`` after each inline run; a scipy submodule first imported inside
    one would be dropped while scipy keeps references to it, and the next run fails to import it.
    """
    from pytest_openwhisk.regress import stats

    stats.mann_whitney([1.0, 2.0, 3.0], [2.0, 3.0, 4.0])
    stats.compare_proportions(1, 10, 2, 10)
    stats.compare_proportions(30, 100, 40, 100)
