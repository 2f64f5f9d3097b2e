"""The regression gate inside a pytest session: baseline loading, current-run capture, verdict, report.

:class:`RegressSession` is the one object the plugin stashes. The baseline is resolved at session
start (before ``--benchmark-autosave`` writes the current run, so ``latest`` is the previous run); the
current run is read from pytest-benchmark's session at session finish.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_openwhisk.errors import ConfigError
from pytest_openwhisk.regress import fingerprint, gate
from pytest_openwhisk.regress.load import Run, RunNotFound, Storage, run_from_json
from pytest_openwhisk.regress.settings import RegressSettings
from pytest_openwhisk.regress.table import format_report


def benchmark_storage(config: pytest.Config, machine_id: str) -> Storage:
    """pytest-benchmark's file storage (``--benchmark-storage``) as a :class:`Storage`."""
    location = str(config.getoption("benchmark_storage", ".benchmarks") or ".benchmarks")
    if "://" in location and not location.startswith("file://"):
        raise pytest.UsageError(
            f"--ow-regression needs file storage, got --benchmark-storage={location!r}; use a directory "
            f"(file://PATH) or give --ow-regression-baseline=PATH/TO/RUN.json"
        )
    root = Path(location.removeprefix("file://"))
    if not root.is_absolute():
        root = Path(config.rootpath, root) if not Path.cwd().joinpath(root).exists() else Path.cwd() / root
    return Storage(root, machine_id)


class RegressSession:
    """State of the gate for one pytest session."""

    def __init__(self, settings: RegressSettings) -> None:
        self.settings = settings
        self.baseline: Run | None = None
        self.report: gate.GateReport | None = None
        self.error: str | None = None  # why the gate refused to compare
        self.notes: list[str] = []

    def load_baseline(self, config: pytest.Config) -> None:
        """Resolve the baseline now; an explicit reference that does not exist is a usage error."""
        bench = config.pluginmanager.get_plugin("pytest-benchmark")
        machine_id = str(getattr(bench, "machine_id", "") or "")
        if not machine_id:
            from pytest_openwhisk.regress.load import default_machine_id

            machine_id = default_machine_id()
        try:
            storage = benchmark_storage(config, machine_id)
            self.baseline = storage.load(self.settings.baseline)
        except RunNotFound as exc:
            if self.settings.baseline_explicit:
                raise pytest.UsageError(f"--ow-regression-baseline: {exc}") from None
            self.notes.append(f"no baseline, gate skipped: {exc}")
        except ConfigError as exc:
            raise pytest.UsageError(f"--ow-regression-baseline: {exc}") from None

    def current_run(self, config: pytest.Config) -> Run | None:
        """The benchmarks measured in this session, as pytest-benchmark would save them (with raw data)."""
        bench = config.pluginmanager.get_plugin("pytest-benchmark")
        if bench is None:
            return None
        entries = [b.as_dict(include_data=True) for b in bench.benchmarks if b]
        if not entries:
            return None
        # only the update hook: it adds ow_fingerprint; generating host info (py-cpuinfo) takes seconds
        machine_info: dict[str, Any] = {}
        config.hook.pytest_benchmark_update_machine_info(config=config, machine_info=machine_info)
        return run_from_json({"benchmarks": entries, "machine_info": machine_info}, label="this run")

    def finish(self, config: pytest.Config) -> bool:
        """Evaluate the gate; return False when it failed or refused (the session must exit non-zero)."""
        if self.baseline is None:
            return True
        current = self.current_run(config)
        if current is None:
            self.notes.append("no benchmarks ran in this session, gate skipped")
            return True
        differences = fingerprint.diff(
            self.baseline.fingerprint, current.fingerprint, self.settings.ignore_fingerprint_keys
        )
        if differences and not self.settings.allow_fingerprint_mismatch:
            self.error = str(fingerprint.FingerprintMismatch(differences, self.baseline.label, current.label))
            return False
        self.report = gate.evaluate(
            self.baseline,
            current,
            self.settings.rules,
            alpha=self.settings.alpha,
            resamples=self.settings.resamples,
            seed=self.settings.seed,
            correction=self.settings.correction,
            fingerprint_differences=differences,
        )
        if self.settings.html is not None:
            from pytest_openwhisk.regress.html import write_report

            write_report(self.report, self.settings.html, trend=None)
            self.notes.append(f"HTML report: {self.settings.html}")
        return self.report.passed

    def summary_lines(self) -> list[str]:
        """What the terminal summary prints."""
        lines = []
        if self.error:
            lines.append(f"ERROR {self.error}")
        if self.report is not None:
            lines += format_report(self.report)
        return lines + self.notes
