"""The runner: files written, aliases resolved, progress line, and partial results on Ctrl-C."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_openwhisk.client import OpenWhiskClient
from pytest_openwhisk.workload.progress import ProgressLine, format_line
from pytest_openwhisk.workload.runner import WorkloadRunner
from pytest_openwhisk.workload.sendresult import Counters
from pytest_openwhisk.workload.spec import Instance, Workload

from .fake_openwhisk import FakeOpenWhisk

AUTH = "user:secretkey"


class _Tty(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_progress_line_only_on_a_tty() -> None:
    counters = Counters(scheduled=10, sent=4, completed=3, elapsed_s=1.0, duration_s=2.0)
    quiet, live = _Tty(False), _Tty(True)
    for stream in (quiet, live):
        line = ProgressLine.for_stream("w", stream)
        line.update(counters)
        line.close(counters)
    assert quiet.getvalue() == ""
    assert live.getvalue().startswith("\r[workload w]")
    assert "sent 4/10" in format_line("w", counters)


def test_runner_writes_results_and_records_with_asked_names(fake: FakeOpenWhisk, tmp_path: Path) -> None:
    recorded: list[tuple[str, int, dict[str, Any]]] = []

    def recorder(name: str, samples: list[Any], **kw: Any) -> None:
        recorded.append((name, len(samples), kw))

    with OpenWhiskClient(fake.apihost, AUTH, "guest") as client:
        runner = WorkloadRunner(
            fake.apihost,
            AUTH,
            "guest",
            client,
            tmp_path,
            recorder=recorder,
            resolve_actions=lambda: {"hello": "t-abc-hello"},
        )
        analysis = runner.run(
            Workload(
                "r", 0.5, seed=1, instances=(Instance("i", "hello", distribution="uniform", rate=20.0),)
            ),
            plots=False,
            settle_s=5,
        )
    assert {s.action for s in analysis.samples()} == {"t-abc-hello"}  # the deployed name was invoked
    assert recorded[0][0] == "r:hello"
    assert recorded[0][1] == 10
    assert recorded[0][2]["mode"] == "open-loop"
    folder = runner.results_for("r")
    assert {p.name for p in folder.iterdir()} >= {
        "invocations.csv",
        "summary.json",
        "workload.json",
        "schedule.json",
    }
    assert AUTH.split(":")[1] not in "".join(p.read_text() for p in folder.iterdir())


def test_reports_and_plots_label_functions_by_the_given_name(fake: FakeOpenWhisk, tmp_path: Path) -> None:
    """The user named the action ``hello``; the deployed ``t-abc-hello`` stays out of what they read."""
    import json

    with OpenWhiskClient(fake.apihost, AUTH, "guest") as client:
        runner = WorkloadRunner(
            fake.apihost,
            AUTH,
            "guest",
            client,
            tmp_path,
            resolve_actions=lambda: {"hello": "t-abc-hello"},
            energy={"source": "none", "available": False, "why": "no powercap here"},
        )
        analysis = runner.run(
            Workload(
                "named", 0.3, seed=1, instances=(Instance("i", "hello", distribution="uniform", rate=20.0),)
            ),
            settle_s=5,
        )
    assert analysis.name_of("t-abc-hello") == "hello"
    folder = runner.results_for("named")
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["functions"]["t-abc-hello"]["name"] == "hello"
    page = (folder / "report.html").read_text()
    assert "<td>hello</td>" in page
    assert "t-abc-hello" not in page
    assert summary["energy"] == "energy: unavailable (no powercap here)"
    assert "energy: unavailable (no powercap here)" in page
    assert summary["sender"]["own_process"] is True  # how the sender ran is part of the results
    assert "timer" in summary["sender"]
    assert "notes" in summary["sender"]


def test_interrupt_writes_partial_results_then_reraises(
    fake: FakeOpenWhisk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupting_update(self: ProgressLine, counters: Counters) -> None:
        if counters.sent >= 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(ProgressLine, "update", interrupting_update)
    with OpenWhiskClient(fake.apihost, AUTH, "guest") as client:
        runner = WorkloadRunner(fake.apihost, AUTH, "guest", client, tmp_path)
        with pytest.raises(KeyboardInterrupt, match="partial results in"):
            runner.run(
                Workload(
                    "long",
                    30.0,
                    seed=1,
                    instances=(Instance("i", "fast", distribution="uniform", rate=20.0),),
                ),
                plots=False,
            )
    summary = json.loads((runner.results_for("long") / "summary.json").read_text())
    assert summary["interrupted"] is True
    assert summary["scheduled"] == 600
    assert summary["functions"]["fast"]["dropped"] > 0


def test_perf_monitoring_scripts_run_only_on_request(fake: FakeOpenWhisk, tmp_path: Path) -> None:
    (tmp_path / "mon.sh").write_text('echo "$1" > runtime.out\n')
    (tmp_path / "post.sh").write_text("echo done > post.out\n")
    workload = Workload(
        "hooks",
        0.3,
        seed=1,
        base_dir=tmp_path,
        hooks={"runtime_script": "mon.sh", "post_script": "post.sh"},
        instances=(Instance("i", "fast", distribution="uniform", rate=10.0),),
    )
    with OpenWhiskClient(fake.apihost, AUTH, "guest") as client:
        runner = WorkloadRunner(fake.apihost, AUTH, "guest", client, tmp_path / "res")
        runner.run(workload, plots=False, settle_s=5)
        assert not (tmp_path / "post.out").exists()
        runner.run(workload, plots=False, settle_s=5, run_hooks=True)
    assert (tmp_path / "post.out").read_text() == "done\n"
    assert (tmp_path / "runtime.out").read_text() == "0.3\n"  # FaaSProfiler passes the duration
