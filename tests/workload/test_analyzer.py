"""Analyzer: statistics on synthetic records, REST collection and join (paging, missing), files and plots."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_openwhisk.client import MAX_PAGE as PAGE
from pytest_openwhisk.samples import ACCEPTED_NO_RESULT, CLIENT_ERROR, Sample
from pytest_openwhisk.workload.analyzer import CSV_COLUMNS, analyze, completion_ms, execution_ms
from pytest_openwhisk.workload.collect import fetch_activations, join_activations
from pytest_openwhisk.workload.records import DROPPED
from pytest_openwhisk.workload.runner import bench_samples
from pytest_openwhisk.workload.schedule import Arrival, build_schedule
from pytest_openwhisk.workload.sender import OpenLoopSender
from pytest_openwhisk.workload.sendresult import Record, SendResult
from pytest_openwhisk.workload.spec import Instance, Workload

from .fake_openwhisk import FakeOpenWhisk

T0 = 1_700_000_000.0
AUTH = "user:secretkey"


def _sample(
    i: int,
    *,
    status: str = "success",
    cold: bool = False,
    http: int = 200,
    duration: float = 10.0,
    action: str = "f",
) -> Sample:
    intended = T0 + i * 0.1
    sent = intended + 0.001
    received = sent + (duration + 5.0) / 1000.0
    s = Sample(
        action=action,
        sent=sent,
        received=received,
        latency_ms=(received - sent) * 1000,
        http_status=http,
        status=status,
        activation_id=f"{i:032x}",
        intended=intended,
        mode="open-loop",
    )
    if status not in (DROPPED, CLIENT_ERROR):
        s.start_ms = int(sent * 1000) + 1
        s.end_ms = s.start_ms + int(duration)
        s.duration_ms, s.wait_ms = duration, 2.0
        if cold:
            s.init_ms, s.cold = 6.0, True
    return s


def _result(samples: list[Sample], workload: Workload) -> SendResult:
    records = [
        Record(
            Arrival(
                offset=(s.intended or T0) - T0, instance=workload.instances[0].name, action=s.action, seq=i
            ),
            s,
        )
        for i, s in enumerate(samples)
    ]
    return SendResult(
        workload=workload,
        schedule=build_schedule(workload),
        records=records,
        started=T0,
        ended=T0 + workload.duration_s,
    )


def _synthetic() -> SendResult:
    workload = Workload(
        "syn", 2.0, seed=1, instances=(Instance("i", "f", distribution="uniform", rate=10.0),)
    )
    samples = [_sample(i, cold=i < 2, duration=50.0 if i < 2 else 10.0) for i in range(16)]
    samples.append(_sample(16, status="application error"))
    samples.append(_sample(17, status=CLIENT_ERROR, http=429))
    samples.append(_sample(18, status=DROPPED, http=0))
    samples.append(_sample(19, status=CLIENT_ERROR, http=0))
    return _result(samples, workload)


def test_function_statistics_on_synthetic_records() -> None:
    stats = analyze(_synthetic()).functions["f"]
    assert stats["count"] == 20
    assert stats["ok"] == 16
    assert stats["errors"] == 4
    assert stats["error_rate"] == pytest.approx(0.2)
    assert stats["errors_by_class"] == {
        "HTTP 429": 1,
        "application error": 1,
        "client error": 1,
        "dropped": 1,
    }
    assert stats["dropped"] == 1
    assert stats["cold_count"] == 2
    assert stats["cold_ratio"] == pytest.approx(2 / 17)  # of the 17 samples with an activation record
    assert stats["execution_ms"]["cold"]["p50"] == pytest.approx(44.0)  # duration 50 - initTime 6
    assert stats["execution_ms"]["warm"]["p50"] == pytest.approx(10.0)
    assert stats["server_latency_ms"]["warm"]["p50"] == pytest.approx(12.0)  # duration + waitTime
    assert stats["init_ms"]["count"] == 2
    assert stats["target_rps"] == 10.0
    assert stats["achieved_rps"] == pytest.approx(18 / 1.9, rel=1e-6)  # 19 sent over 1.9 s (1 dropped)
    assert stats["send_lag_abs_ms"]["p50"] == pytest.approx(1.0, abs=0.01)
    assert stats["latency_ms"]["count"] == 18  # everything that got an HTTP response
    assert sum(row["scheduled"] for row in stats["timeline"]) == 20
    assert [row["t_s"] for row in stats["timeline"]] == [0.0, 1.0]


def test_execution_and_completion_definitions() -> None:
    s = _sample(0, cold=True, duration=50.0)
    assert execution_ms(s) == 44.0
    accepted = _sample(1, http=202, status="success", duration=30.0)
    assert completion_ms(accepted) == pytest.approx(accepted.end_ms - accepted.intended * 1000)  # type: ignore[operator]
    assert completion_ms(_sample(2, status=DROPPED, http=0)) is None


def test_bench_samples_use_activation_end_for_non_blocking() -> None:
    accepted = _sample(1, http=202, duration=300.0)
    accepted.received = accepted.sent + 0.002
    accepted.latency_ms = 2.0
    [converted] = bench_samples([accepted])
    assert converted.latency_ms > 300
    assert accepted.latency_ms == 2.0  # the analysis keeps the raw sample


def test_write_saves_csv_summary_and_workload(tmp_path: Path) -> None:
    analysis = analyze(_synthetic())
    paths = analysis.write(tmp_path)
    with paths["csv"].open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 20
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[0]["cold"] == "1"
    assert rows[18]["status"] == DROPPED
    summary = json.loads(paths["summary"].read_text())
    assert summary["functions"]["f"]["count"] == 20
    assert summary["scheduled"] == 20
    assert json.loads(paths["workload"].read_text())["name"] == "syn"
    assert AUTH not in paths["csv"].read_text() + paths["summary"].read_text()


def test_plots_and_html_are_written(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from pytest_openwhisk.workload.plots import write_plots

    paths = write_plots(analyze(_synthetic()), tmp_path)
    for key in ("latency_over_time", "latency_cdf"):
        assert paths[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = paths["html"].read_text()
    assert page.count("data:image/png;base64,") == 2
    assert "<td>f</td>" in page


def test_join_fills_non_blocking_samples_from_the_rest_api(fake: FakeOpenWhisk) -> None:
    workload = Workload(
        "nb",
        0.6,
        seed=2,
        instances=(
            Instance("a", "fn", distribution="uniform", rate=400.0),
            Instance("b", "other", distribution="uniform", rate=20.0),
        ),
    )
    result = OpenLoopSender(fake.apihost, AUTH, "guest").run(workload)
    assert {s.status for s in result.samples} == {ACCEPTED_NO_RESULT}
    from pytest_openwhisk.client import OpenWhiskClient

    with OpenWhiskClient(fake.apihost, AUTH, "guest") as client:
        report = join_activations(result, client, settle_s=5)
    assert report.joined == len(result.samples) > PAGE  # needed more than one page
    assert report.missing == []
    assert report.pages >= 3
    assert all(s.ok and s.duration_ms is not None for s in result.samples)
    stats = analyze(result, report).functions
    assert stats["fn"]["count"] == 240
    assert stats["other"]["count"] == 12
    assert stats["fn"]["cold_count"] == 1


class _Partial:
    """An activation source that never returns one record."""

    def __init__(self, records: list[dict[str, Any]], hide: str) -> None:
        self.records = [r for r in records if r["activationId"] != hide]
        self.calls = 0

    def list_activations(
        self,
        name: str | None = None,
        *,
        limit: int = 30,
        skip: int = 0,
        since: int | None = None,
        upto: int | None = None,
        docs: bool = False,
    ) -> list[Any]:
        self.calls += 1
        rows = [r for r in self.records if r["name"] == name]
        return rows[skip : skip + limit]


def test_missing_records_are_reported_not_hidden(fake: FakeOpenWhisk) -> None:
    workload = Workload("m", 0.3, seed=2, instances=(Instance("a", "fn", distribution="uniform", rate=20.0),))
    result = OpenLoopSender(fake.apihost, AUTH, "guest").run(workload)
    hidden = result.samples[0].activation_id
    assert hidden is not None
    source = _Partial(fake.records, hidden)
    report = join_activations(result, source, settle_s=0.5)
    assert report.missing == [hidden]
    assert source.calls >= 2  # it kept polling until the settle deadline
    lost = result.samples[0]
    assert lost.status == ACCEPTED_NO_RESULT
    assert "not found within 0.5s" in (lost.error or "")
    assert analyze(result, report).functions["fn"]["errors_by_class"] == {"no activation record": 1}


def test_fetch_skips_health_checks_and_stops_on_short_page() -> None:
    records = [{"activationId": f"{i:032x}", "name": "fn", "start": i} for i in range(PAGE + 5)]
    records.append({"activationId": "f" * 32, "name": "invokerHealthTestAction0", "start": 1})
    source = _Partial(records, hide="")
    found, pages = fetch_activations(source, ["fn", "invokerHealthTestAction0"], 0, 10**13)
    assert len(found) == PAGE + 5
    assert pages == 3
