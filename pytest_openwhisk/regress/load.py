"""Read pytest-benchmark JSON (saved runs under ``.benchmarks/<machine>/NNNN_*.json`` or any path).

A run reference is a path to a JSON file, ``latest``, ``latest~N`` (N runs before the latest), or a
run id (``0003`` or ``0003_abc``, the prefix of a saved file name). Raw samples come from
``extra_info.ow_samples`` (pytest-openwhisk benchmarks) or, for plain pytest-benchmark benchmarks saved
with ``--benchmark-save-data``, from ``stats.data`` (seconds, converted to ms).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pytest_openwhisk.errors import ConfigError
from pytest_openwhisk.samples import SAMPLE_COLUMNS

_LATEST = re.compile(r"^latest(?:~(\d+))?$")
_RUN_ID = re.compile(r"^\d{4}(?:_.*)?$")
REF_HELP = "give a JSON file path, 'latest', 'latest~N' or a saved run id such as 0003"


class RunNotFound(ConfigError):
    """A run reference names no file (the message lists what exists and how to fix it)."""


@dataclass
class Benchmark:
    """One benchmark of a run with its raw samples as float arrays (NaN where the value is missing)."""

    fullname: str
    name: str
    group: str | None
    samples: dict[str, NDArray[np.float64]]
    mode: str | None = None
    action: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    def series(self, key: str, *, ok_only: bool = False) -> NDArray[np.float64]:
        """Finite values of one series (``latency_ms``, ``cold``...); only successful ones if ``ok_only``."""
        values = self.samples.get(key)
        if values is None:
            return np.empty(0, dtype=np.float64)
        if ok_only and "error" in self.samples and self.samples["error"].size == values.size:
            values = values[self.samples["error"] == 0]
        return values[np.isfinite(values)]


@dataclass
class Run:
    """One saved pytest-benchmark run."""

    label: str  # short name for tables: file stem or the path given
    path: Path | None
    datetime: str | None
    commit: dict[str, Any]
    machine_info: dict[str, Any]
    benchmarks: dict[str, Benchmark]

    @property
    def fingerprint(self) -> dict[str, Any] | None:
        """``machine_info.ow_fingerprint`` or None when the run has none."""
        value = self.machine_info.get("ow_fingerprint")
        return value if isinstance(value, dict) else None


def _array(values: Any) -> NDArray[np.float64]:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _benchmark(entry: Mapping[str, Any]) -> Benchmark:
    extra = entry.get("extra_info") or {}
    raw = extra.get("ow_samples")
    samples: dict[str, NDArray[np.float64]] = {}
    if isinstance(raw, Mapping):
        for key in SAMPLE_COLUMNS:
            if isinstance(raw.get(key), list):
                samples[key] = _array(raw[key])
    else:
        data = (entry.get("stats") or {}).get("data")
        if isinstance(data, list) and data:
            samples["latency_ms"] = _array(data) * 1000.0
    fullname = str(entry.get("fullname") or entry.get("name"))
    return Benchmark(
        fullname=fullname,
        name=str(entry.get("name") or fullname),
        group=entry.get("group"),
        samples=samples,
        mode=extra.get("ow_mode"),
        action=extra.get("ow_action"),
        summary=dict(extra.get("ow_summary") or {}),
    )


def run_from_json(data: Mapping[str, Any], label: str, path: Path | None = None) -> Run:
    """Build a :class:`Run` from decoded pytest-benchmark JSON; raise ConfigError if it is not one."""
    entries = data.get("benchmarks")
    if not isinstance(entries, list):
        raise ConfigError(
            f"{label} is not pytest-benchmark JSON (no 'benchmarks' list); "
            f"produce it with --benchmark-save, --benchmark-autosave or --benchmark-json"
        )
    benchmarks = {}
    for entry in entries:
        bench = _benchmark(entry)
        benchmarks[bench.fullname] = bench
    return Run(
        label=label,
        path=path,
        datetime=data.get("datetime"),
        commit=dict(data.get("commit_info") or {}),
        machine_info=dict(data.get("machine_info") or {}),
        benchmarks=benchmarks,
    )


def load_run(path: Path, label: str | None = None) -> Run:
    """Read one JSON file; errors name the file and what is wrong with it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunNotFound(f"benchmark file {str(path)!r} does not exist; {REF_HELP}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"cannot read benchmark file {str(path)!r}: {exc}; give a JSON file written by pytest-benchmark"
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{str(path)!r} is not pytest-benchmark JSON (top level is not an object)")
    return run_from_json(data, label or path.stem, path)


def default_machine_id() -> str:
    """pytest-benchmark's machine directory name for this interpreter (e.g. ``Linux-CPython-3.11-64bit``)."""
    from pytest_benchmark.utils import get_machine_id

    return str(get_machine_id())  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class Storage:
    """A pytest-benchmark file storage (``--benchmark-storage``) seen from one machine directory."""

    root: Path
    machine_id: str

    @property
    def directory(self) -> Path:
        """``root/machine_id``."""
        return self.root / self.machine_id

    def runs(self) -> list[Path]:
        """Saved runs of this machine, oldest first (pytest-benchmark's ``NNNN_name.json`` order)."""
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.glob("[0-9][0-9][0-9][0-9]_*.json") if p.is_file())

    def _describe(self) -> str:
        runs = self.runs()
        if runs:
            listed = ", ".join(p.name for p in runs[-5:])
            return f"saved runs in {self.directory}: {listed}"
        others = sorted(p.name for p in self.root.glob("*") if p.is_dir()) if self.root.is_dir() else []
        hint = f" (machine directories present: {', '.join(others)})" if others else ""
        return (
            f"no saved runs in {self.directory}{hint}; save one with --benchmark-autosave "
            f"or --benchmark-save=NAME"
        )

    def resolve(self, ref: str) -> Path:
        """The file a reference names; :class:`RunNotFound` lists the saved runs otherwise."""
        text = ref.strip()
        latest = _LATEST.match(text)
        if latest:
            back = int(latest.group(1) or 0)
            runs = self.runs()
            if back >= len(runs):
                raise RunNotFound(f"run {text!r} does not exist: {self._describe()}")
            return runs[-1 - back]
        candidate = Path(text)
        if candidate.suffix == ".json" or candidate.is_file() or "/" in text:
            if candidate.is_file():
                return candidate
            raise RunNotFound(f"benchmark file {text!r} does not exist; {REF_HELP}")
        if _RUN_ID.match(text):
            matches = [p for p in self.runs() if p.name.startswith(text)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                names = ", ".join(p.name for p in matches)
                raise RunNotFound(f"run id {text!r} is ambiguous ({names}); give more of the file name")
            raise RunNotFound(f"run id {text!r} not found: {self._describe()}")
        raise RunNotFound(f"invalid run reference {text!r}; {REF_HELP}")

    def load(self, ref: str) -> Run:
        """Resolve and read a reference."""
        path = self.resolve(ref)
        return load_run(path, label=path.stem if path.parent == self.directory else str(path))


def merge_runs(runs: list[Run]) -> Run:
    """Pool several runs of the same code into one (samples concatenated per benchmark).

    Alternating base and head runs (A B A B) and pooling each side spreads slow drift of the machine
    over both sides. The fingerprint and metadata of the first run are kept.
    """
    if not runs:
        raise ValueError("merge_runs needs at least one run")
    if len(runs) == 1:
        return runs[0]
    first = runs[0]
    benchmarks: dict[str, Benchmark] = {}
    for run in runs:
        for name, bench in run.benchmarks.items():
            known = benchmarks.get(name)
            if known is None:
                benchmarks[name] = Benchmark(
                    bench.fullname,
                    bench.name,
                    bench.group,
                    dict(bench.samples),
                    bench.mode,
                    bench.action,
                    dict(bench.summary),
                )
                continue
            for key in set(known.samples) | set(bench.samples):
                if key in known.samples and key in bench.samples:
                    known.samples[key] = np.concatenate([known.samples[key], bench.samples[key]])
                else:  # a series missing on one side would misalign the others: drop it
                    known.samples.pop(key, None)
    label = "+".join(run.label for run in runs)
    return Run(
        label=label,
        path=first.path,
        datetime=first.datetime,
        commit=first.commit,
        machine_info=first.machine_info,
        benchmarks=benchmarks,
    )
