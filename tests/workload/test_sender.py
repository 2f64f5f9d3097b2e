"""The open-loop sender against a local slow server: no coordinated omission, bounds, clean stops."""

from __future__ import annotations

import socket

import pytest

from pytest_openwhisk.samples import ACCEPTED_NO_RESULT, CLIENT_ERROR, STATUS_SUCCESS
from pytest_openwhisk.workload.records import DROPPED, error_class
from pytest_openwhisk.workload.sendconfig import SenderConfig
from pytest_openwhisk.workload.sender import OpenLoopSender, invoke_url
from pytest_openwhisk.workload.sendresult import Counters
from pytest_openwhisk.workload.spec import Instance, Workload, WorkloadError

from .fake_openwhisk import FakeOpenWhisk

AUTH = "user:secretkey"


def _uniform(action: str, rate: float, duration: float, blocking: bool = False) -> Workload:
    instances = (Instance("i", action, distribution="uniform", rate=rate),)
    return Workload("t", duration, seed=1, instances=instances, blocking=blocking)


def test_slow_responses_do_not_delay_arrivals(fake: FakeOpenWhisk) -> None:
    """50 req/s to a 0.5 s action: a closed loop sends one request per response; open loop keeps sending."""
    sender = OpenLoopSender(fake.apihost, AUTH, "guest", SenderConfig(drain_s=5))
    result = sender.run(_uniform("slow", 50.0, 1.0, blocking=True))
    samples = result.samples
    assert len(samples) == 50
    assert all(s.status == STATUS_SUCCESS for s in samples), {s.error for s in samples}
    first_done = min(s.received for s in samples)
    assert sum(s.sent < first_done for s in samples) >= 10  # arrivals went out while responses were pending
    assert fake.max_in_flight_seen >= 10  # the server saw many overlapping requests
    # latency from intended includes any sender lateness; it is never below the client latency
    for s in samples:
        assert s.intended is not None
        assert s.latency_from_intended_ms is not None
        assert s.latency_from_intended_ms >= s.latency_ms - 1e-6 - (s.intended - s.sent) * 1000
        assert s.latency_ms >= 500


def test_blocking_records_fill_samples(fake: FakeOpenWhisk) -> None:
    result = OpenLoopSender(fake.apihost, AUTH, "guest").run(_uniform("fast", 20.0, 0.5, blocking=True))
    samples = result.samples
    assert len(samples) == 10
    assert all(s.activation_id and s.duration_ms is not None and s.wait_ms == 3 for s in samples)
    assert [s.cold for s in samples].count(True) == 1  # the fake's first activation has initTime
    assert all(s.mode == "open-loop" for s in samples)


def test_non_blocking_requests_are_accepted_with_ids(fake: FakeOpenWhisk) -> None:
    result = OpenLoopSender(fake.apihost, AUTH, "guest").run(_uniform("fast", 20.0, 0.5))
    assert {s.status for s in result.samples} == {ACCEPTED_NO_RESULT}
    assert {s.http_status for s in result.samples} == {202}
    assert len({s.activation_id for s in result.samples}) == 10


def test_max_in_flight_drops_excess_and_drain_deadline_cancels(fake: FakeOpenWhisk) -> None:
    """Requests that never answer: 5 go out, the rest are dropped (recorded), the 5 end at the deadline."""
    cfg = SenderConfig(max_in_flight=5, drain_s=0.3)
    result = OpenLoopSender(fake.apihost, AUTH, "guest", cfg).run(_uniform("hold", 40.0, 0.5))
    samples = result.samples
    assert len(samples) == 20  # every scheduled request ends as a sample
    dropped = [s for s in samples if s.status == DROPPED]
    cancelled = [s for s in samples if s.status == CLIENT_ERROR]
    assert len(dropped) == 15
    assert len(cancelled) == 5
    assert fake.max_in_flight_seen == 5
    assert {s.error for s in dropped} == {"max in-flight (5) reached"}
    assert all("drain deadline (0.3s" in (s.error or "") for s in cancelled)
    assert all(s.intended is not None for s in samples)
    assert all(s.received <= result.ended for s in cancelled)  # cancelled at the deadline, not awaited
    fake.release()


def test_http_errors_become_classified_client_errors(fake: FakeOpenWhisk) -> None:
    result = OpenLoopSender(fake.apihost, AUTH, "guest").run(_uniform("throttled", 10.0, 0.3))
    for s in result.samples:
        assert s.status == CLIENT_ERROR
        assert s.http_status == 429
        assert error_class(s) == "HTTP 429"
        assert "Too many requests" in (s.error or "")


def test_connection_refused_is_a_client_error() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        apihost = f"http://127.0.0.1:{sock.getsockname()[1]}"
    result = OpenLoopSender(apihost, AUTH, "guest", SenderConfig(drain_s=2)).run(_uniform("x", 10.0, 0.3))
    assert {s.status for s in result.samples} == {CLIENT_ERROR}
    assert all(s.http_status == 0 and s.error for s in result.samples)


def test_keyboard_interrupt_keeps_partial_results(fake: FakeOpenWhisk) -> None:
    """Ctrl-C during a 20 s run: it stops early, every unsent arrival is recorded as 'dropped'."""
    ticks: list[Counters] = []

    def on_tick(c: Counters) -> None:
        ticks.append(c)
        if c.sent >= 5:
            raise KeyboardInterrupt

    sender = OpenLoopSender(fake.apihost, AUTH, "guest", SenderConfig(interrupt_grace_s=0.5))
    result = sender.run(_uniform("fast", 20.0, 20.0), on_tick=on_tick, tick_s=0.05)
    assert result.interrupted
    samples = result.samples
    assert len(samples) == 400
    sent = [s for s in samples if s.status != DROPPED]
    assert 5 <= len(sent) < 400  # stopped early: the rest of the schedule was never sent
    assert all(s.error == "interrupted (KeyboardInterrupt)" for s in samples if s.status == DROPPED)
    assert ticks


def test_bad_auth_and_config_are_explained() -> None:
    with pytest.raises(WorkloadError, match="expected 'uuid:key'"):
        OpenLoopSender("http://127.0.0.1:1", "nokey", "guest")
    with pytest.raises(WorkloadError, match=r"max_in_flight = 0 is invalid: must be >= 1"):
        SenderConfig(max_in_flight=0)


def test_invoke_urls() -> None:
    assert (
        invoke_url("http://h:1/", "guest", "pkg/a b", blocking=True)
        == "http://h:1/api/v1/namespaces/guest/actions/pkg/a%20b?blocking=true&result=false"
    )
    assert (
        invoke_url("http://h:1", "guest", "img", blocking=False, web=True)
        == "http://h:1/api/v1/web/guest/default/img"
    )
