"""Unit tests of pytest_openwhisk.measure: samples from records, and the warm/cold/concurrent runners."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from pytest_openwhisk.client import InvokeResult, OpenWhiskClient
from pytest_openwhisk.errors import StartupTimeout
from pytest_openwhisk.measure import (
    invoke_sample,
    measurement_from_samples,
    run_cold,
    run_concurrent,
    run_warm,
)
from pytest_openwhisk.samples import ACCEPTED_NO_RESULT, CLIENT_ERROR, Sample, sample_from_record


def record(
    *,
    cold: bool = False,
    status: str = "success",
    duration: int = 5,
    wait: int = 2,
    activation_id: str = "a" * 32,
    result: Any = None,
) -> dict[str, Any]:
    """An activation record as a blocking invoke returns it."""
    annotations: list[dict[str, Any]] = [
        {"key": "path", "value": "guest/hello"},
        {"key": "waitTime", "value": wait},
    ]
    if cold:
        annotations.append({"key": "initTime", "value": 300})
    return {
        "activationId": activation_id,
        "start": 1_000,
        "end": 1_000 + duration,
        "duration": duration,
        "annotations": annotations,
        "response": {
            "status": status,
            "statusCode": 0,
            "success": status == "success",
            "result": result if result is not None else {"ok": True},
        },
    }


class FakeClient:
    """Stands in for OpenWhiskClient: answers invokes from a script, counts calls, is thread-safe."""

    def __init__(self, answer: Any = None) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.cold_next: set[str] = set()
        self.lock = threading.Lock()
        self.late: dict[str, dict[str, Any]] = {}
        self.answer = answer

    def note_call(self, name: str, params: Any) -> bool:
        """Record the call; whether it was to be a cold start."""
        with self.lock:
            self.calls.append((name, params))
            cold = name in self.cold_next
            self.cold_next.discard(name)
        return cold

    def invoke(self, name: str, params: Any = None, **options: Any) -> InvokeResult:
        cold = self.note_call(name, params)
        if self.answer is not None:
            return self.answer(name)  # type: ignore[no-any-return]
        now = time.time()
        body = record(cold=cold)
        return InvokeResult(200, body, body["activationId"], now, now + 0.004, 4.0)

    def wait_activation(self, activation_id: str, timeout: float = 70.0) -> dict[str, Any]:
        if activation_id in self.late:
            return self.late[activation_id]
        raise StartupTimeout(f"activation {activation_id} not ready after {timeout:g}s")


class FakeBackend:
    """Forces cold starts in the FakeClient."""

    def __init__(self) -> None:
        self.forced: list[str] = []

    def force_cold(self, client: Any, action: str) -> None:
        self.forced.append(action)
        client.cold_next.add(action)


class Act:
    """A minimal Action."""

    name = "t1234-hello"
    base_name = "hello"


def test_sample_from_a_cold_record() -> None:
    s = sample_from_record(
        "hello",
        record(cold=True, duration=350, wait=7),
        sent=1.0,
        received=1.5,
        latency_ms=500.0,
        http_status=200,
        mode="cold",
    )
    assert s.cold
    assert s.init_ms == 300
    assert s.wait_ms == 7
    assert s.duration_ms == 350
    assert s.ok
    assert s.status == "success"
    assert s.error is None
    assert s.overhead_ms == 150
    assert (s.start_ms, s.end_ms, s.activation_id) == (1000, 1350, "a" * 32)


def test_sample_from_a_failed_record_keeps_the_error() -> None:
    s = sample_from_record(
        "hello",
        record(status="application error", result={"error": "boom"}),
        sent=1.0,
        received=1.1,
        latency_ms=100.0,
        http_status=502,
        mode="warm",
    )
    assert not s.ok
    assert not s.cold
    assert s.status == "application error"
    assert s.error == "boom"
    assert s.http_status == 502


def test_warm_discards_warmup_and_measures_rounds() -> None:
    client = FakeClient()
    m = run_warm(client, Act(), {"x": 1}, rounds=7, warmup=2)  # type: ignore[arg-type]
    assert len(client.calls) == 9
    assert client.calls[0] == ("t1234-hello", {"x": 1})
    assert len(m.samples) == 7
    assert (m.name, m.mode, m.action) == ("warm", "warm", "hello")
    assert all(s.mode == "warm" and s.ok for s in m.samples)
    assert m.extra == {"warmup": 2, "warmup_errors": 0}
    assert m.started <= m.ended


def test_cold_forces_before_every_invocation() -> None:
    client, backend = FakeClient(), FakeBackend()
    m = run_cold(client, backend, "plain-name", rounds=3)  # type: ignore[arg-type]
    assert backend.forced == ["plain-name"] * 3
    assert [s.cold for s in m.samples] == [True, True, True]
    assert m.summary()["cold_ratio"] == 1.0
    assert m.extra["not_cold"] == 0
    assert (m.mode, m.action) == ("cold", "plain-name")


def sequence_record(components: list[str], activation_id: str = "s" * 32) -> dict[str, Any]:
    """A sequence activation record: no initTime of its own, component ids in ``logs``."""
    body = record(activation_id=activation_id)
    body["annotations"] = [
        {"key": "path", "value": "guest/seq"},
        {"key": "kind", "value": "sequence"},
        {"key": "waitTime", "value": 1},
    ]
    body["logs"] = components
    return body


class SequenceClient(FakeClient):
    """Invoking ``seq`` runs components ``c1`` (cold when forced) and ``c2`` (always warm)."""

    def __init__(self) -> None:
        super().__init__()
        self.fetched: list[str] = []
        self.round = 0

    def invoke(self, name: str, params: Any = None, **options: Any) -> InvokeResult:
        cold = self.note_call(name, params)
        with self.lock:
            self.round += 1
        first, second = f"c1-{self.round}".ljust(32, "0"), f"c2-{self.round}".ljust(32, "0")
        self.late[first] = record(cold=cold, activation_id=first)
        self.late[second] = record(activation_id=second)
        body = sequence_record([first, second])
        now = time.time()
        return InvokeResult(200, body, body["activationId"], now, now + 0.3, 300.0)

    def wait_activation(self, activation_id: str, timeout: float = 70.0) -> dict[str, Any]:
        self.fetched.append(activation_id)
        return super().wait_activation(activation_id, timeout)


def test_cold_sequence_is_cold_when_a_component_is() -> None:
    client, backend = SequenceClient(), FakeBackend()
    m = run_cold(client, backend, "seq", rounds=2)  # type: ignore[arg-type]
    assert [s.cold for s in m.samples] == [True, True]
    assert [s.init_ms for s in m.samples] == [300, 300]  # c1's initTime; c2 was warm
    assert m.extra == {"not_cold": 0}
    assert len(client.fetched) == 4  # both components of both rounds


def test_warm_sequence_components_make_a_warm_cold_sample() -> None:
    class NoForce(FakeBackend):
        def force_cold(self, client: Any, action: str) -> None:
            self.forced.append(action)  # e.g. a backend that failed to evict: components stay warm

    m = run_cold(SequenceClient(), NoForce(), "seq", rounds=1)  # type: ignore[arg-type]
    assert [s.cold for s in m.samples] == [False]
    assert m.extra == {"not_cold": 1}


def test_missing_component_records_are_counted_not_raised() -> None:
    class Forgetful(SequenceClient):
        def wait_activation(self, activation_id: str, timeout: float = 70.0) -> dict[str, Any]:
            self.late.pop(activation_id, None)
            return super().wait_activation(activation_id, timeout)

    m = run_cold(Forgetful(), FakeBackend(), "seq", rounds=1)  # type: ignore[arg-type]
    assert [s.cold for s in m.samples] == [False]
    assert m.extra == {"not_cold": 1, "missing_component_records": 2}


def test_warm_runner_does_not_fetch_sequence_components() -> None:
    client = SequenceClient()
    m = run_warm(client, "seq", rounds=2, warmup=0)  # type: ignore[arg-type]
    assert client.fetched == []
    assert [s.cold for s in m.samples] == [False, False]


def test_concurrent_runs_clients_times_per_client_in_parallel() -> None:
    active, peak = [0], [0]
    lock = threading.Lock()
    gate = threading.Event()

    def answer(name: str) -> InvokeResult:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
            if active[0] == 3:
                gate.set()
        gate.wait(timeout=5)  # hold until all three clients are in flight at once
        with lock:
            active[0] -= 1
        now = time.time()
        return InvokeResult(200, record(), "b" * 32, now, now + 0.001, 1.0)

    client = FakeClient(answer)
    m = run_concurrent(client, Act(), clients=3, per_client=4, warmup=1)  # type: ignore[arg-type]
    assert len(client.calls) == 3 * (4 + 1)
    assert len(m.samples) == 12
    assert peak[0] == 3
    assert [s.sent for s in m.samples] == sorted(s.sent for s in m.samples)
    assert m.extra["clients"] == 3
    assert m.mode == "concurrent"


class WindowLog:
    """A FakeClient answer and a ``before_window`` hook that write one shared, ordered log."""

    def __init__(self, fail: bool = False) -> None:
        self.events: list[str] = []
        self.lock = threading.Lock()
        self.fail = fail

    def answer(self, name: str) -> InvokeResult:
        with self.lock:
            self.events.append("invoke")
        now = time.time()
        return InvokeResult(200, record(), "c" * 32, now, now + 0.001, 1.0)

    def hook(self) -> None:
        with self.lock:
            self.events.append("window")
        if self.fail:
            raise StartupTimeout("no fresh scrape")


def test_concurrent_opens_the_window_once_between_warmup_and_measured_phase() -> None:
    log = WindowLog()
    m = run_concurrent(
        FakeClient(log.answer),  # type: ignore[arg-type]
        Act(),
        clients=3,
        per_client=4,
        warmup=2,
        before_window=log.hook,
    )
    assert log.events.count("window") == 1
    assert log.events.index("window") == 3 * 2  # after every warm-up invocation, before any measured one
    assert len(log.events) == 3 * 2 + 1 + 3 * 4
    assert len(m.samples) == 12


def test_concurrent_without_warmup_does_not_open_a_window() -> None:
    log = WindowLog()
    run_concurrent(
        FakeClient(log.answer),  # type: ignore[arg-type]
        Act(),
        clients=2,
        per_client=2,
        warmup=0,
        before_window=log.hook,
    )
    assert log.events == ["invoke"] * 4  # like run_warm: nothing to keep out of the window


def test_concurrent_window_failure_stops_before_measuring_and_is_raised() -> None:
    log = WindowLog(fail=True)
    with pytest.raises(StartupTimeout, match="no fresh scrape"):
        run_concurrent(
            FakeClient(log.answer),  # type: ignore[arg-type]
            Act(),
            clients=3,
            per_client=4,
            warmup=1,
            before_window=log.hook,
        )
    assert log.events == ["invoke"] * 3 + ["window"]


@pytest.mark.parametrize("mode", ["warm", "concurrent"])
def test_bench_opens_the_backends_window_after_the_warm_up(mode: str) -> None:
    """ow_bench's warm and concurrent measurements call the backend's open_window between warm-up and
    measured invocations, and the backend's monitoring is asked for exactly the measured window."""
    from types import SimpleNamespace

    from pytest_openwhisk.measure.bench import BenchRunner

    log = WindowLog()

    class Backend(FakeBackend):
        def open_window(self) -> None:
            log.hook()

        def monitor(self, start: float, end: float, sent: int | None = None) -> dict[str, Any]:
            log.events.append("monitor")
            return {"window": [start, end], "sent": sent}

    runner = BenchRunner(
        client=FakeClient(log.answer),  # type: ignore[arg-type]
        backend=Backend(),  # type: ignore[arg-type]
        config=SimpleNamespace(stash={}),  # type: ignore[arg-type]
        nodeid="t::x",
    )
    if mode == "warm":
        m = runner.warm("hello", rounds=3, warmup=2)
        expected = ["invoke"] * 2 + ["window"] + ["invoke"] * 3 + ["monitor"]
    else:
        m = runner.concurrent("hello", clients=2, per_client=2, warmup=1)
        expected = ["invoke"] * 2 + ["window"] + ["invoke"] * 4 + ["monitor"]
    assert log.events == expected
    # sent: the measured invocations OpenWhisk accepted (kind/existing close the window on it)
    assert m.extra["monitoring"] == {"window": [m.started, m.ended], "sent": 3 if mode == "warm" else 4}
    assert runner.measurements == [m]


def test_invocations_sent_counts_what_openwhisk_accepted() -> None:
    from pytest_openwhisk.measure.bench import invocations_sent

    def sample(activation_id: str | None, status: int) -> Sample:
        return Sample("a", 1.0, 1.1, 100.0, status, "success", activation_id=activation_id)

    samples = [sample("a" * 32, 200), sample("b" * 32, 502), sample(None, 429), sample(None, 0)]
    assert invocations_sent(samples) == 2


def test_202_fetches_the_record_later() -> None:
    accepted = InvokeResult(202, {"activationId": "c" * 32}, "c" * 32, 1.0, 61.0, 60000.0)
    client = FakeClient(lambda name: accepted)
    client.late["c" * 32] = record(activation_id="c" * 32, duration=59000)
    s = invoke_sample(client, "hello")  # type: ignore[arg-type]
    assert s.ok
    assert s.duration_ms == 59000
    assert s.http_status == 202
    assert s.latency_ms == 60000.0


def test_202_without_record_is_kept_as_accepted() -> None:
    accepted = InvokeResult(202, {"activationId": "d" * 32}, "d" * 32, 1.0, 61.0, 60000.0)
    client = FakeClient(lambda name: accepted)
    s = invoke_sample(client, "hello")  # type: ignore[arg-type]
    assert s.status == ACCEPTED_NO_RESULT
    assert not s.ok
    assert "record not available" in (s.error or "")


def test_http_error_without_record_is_a_client_error() -> None:
    body = {"error": "Too many requests in the last minute (count: 61, allowed: 60).", "code": "x"}
    client = FakeClient(lambda name: InvokeResult(429, body, None, 1.0, 1.01, 10.0))
    s = invoke_sample(client, "hello")  # type: ignore[arg-type]
    assert (s.status, s.http_status) == (CLIENT_ERROR, 429)
    assert s.error is not None
    assert s.error.startswith("Too many requests")


def test_connection_refused_is_recorded_not_raised() -> None:
    with OpenWhiskClient("http://127.0.0.1:9", "user:key", "guest", timeout=5) as client:
        m = run_warm(client, "hello", rounds=2, warmup=0)
    assert [s.status for s in m.samples] == [CLIENT_ERROR, CLIENT_ERROR]
    assert all(s.http_status == 0 and s.error and "BackendError" in s.error for s in m.samples)
    assert "key" not in (m.samples[0].error or "").replace("keep", "")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rounds": 0}, r"rounds=0 is invalid; use an integer >= 1, e.g. rounds=10"),
        ({"rounds": 2.5}, r"rounds=2.5 is invalid"),
        ({"warmup": -1}, r"warmup=-1 is invalid; use an integer >= 0"),
    ],
)
def test_bad_counts_are_rejected(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run_warm(FakeClient(), "hello", **kwargs)  # type: ignore[arg-type]


def test_concurrent_rejects_zero_clients() -> None:
    with pytest.raises(ValueError, match=r"clients=0 is invalid"):
        run_concurrent(FakeClient(), "hello", clients=0)  # type: ignore[arg-type]


def test_measurement_from_external_samples_takes_the_window() -> None:
    samples = [
        Sample("a", sent=10.0, received=10.5, latency_ms=500, http_status=200, status="success"),
        Sample("a", sent=11.0, received=13.0, latency_ms=2000, http_status=200, status="success"),
    ]
    m = measurement_from_samples("burst", "open-loop", "a", samples, {"rate": 5})
    assert (m.started, m.ended) == (10.0, 13.0)
    assert m.extra == {"rate": 5}
    assert m.label == "burst"


# -- against the embedded OpenWhisk (--ow-cluster=local) ---------------------------------------------------


def test_local_cold_and_warm_detection(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        CODE = "def main(args):\\n    return {'n': args.get('n', 0)}\\n"

        def test_modes(ow_action, ow_bench):
            action = ow_action("echo", code=CODE, kind="python:3")
            cold = ow_bench.cold(action, {"n": 1}, rounds=3)
            assert [s.cold for s in cold.samples] == [True, True, True]
            assert cold.summary()["cold_ratio"] == 1.0
            assert all(s.init_ms is not None and s.init_ms > 0 for s in cold.samples)
            warm = ow_bench.warm(action, {"n": 2}, rounds=8, warmup=2)
            assert warm.summary()["cold_ratio"] == 0
            assert warm.summary()["errors"] == 0
            assert all(s.activation_id and s.duration_ms is not None and s.wait_ms is not None
                       for s in warm.samples)
            assert all(s.latency_ms >= s.duration_ms for s in warm.samples)
            assert warm.action == "echo"
            many = ow_bench.concurrent(action, clients=2, per_client=3, warmup=1)
            assert len(many.samples) == 6 and many.summary()["errors"] == 0
    """)
    result = pytester.runpytest(
        "-p",
        "no:hypothesispytest",
        "-p",
        "no:pytest-kind",
        "-p",
        "no:anyio",
        "--ow-cluster=local",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*openwhisk measurements*", "*test_modes*cold*cold*3*3 (100%)*", "*test_modes*warm*warm*8*0 (0%)*"]
    )


def test_local_cold_sequence_counts_component_cold_starts(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        def test_seq(ow_action, ow_bench):
            inc = "def main(args):\\n    return {'n': args.get('n', 0) + 1}\\n"
            a = ow_action("a", code=inc, kind="python:3")
            b = ow_action("b", code="def main(args):\\n    return {'n': args['n'] * 2}\\n", kind="python:3")
            seq = ow_action.sequence("seq", [a, b])
            cold = ow_bench.cold(seq, {"n": 1}, rounds=2)
            assert [s.ok for s in cold.samples] == [True, True]
            assert [s.cold for s in cold.samples] == [True, True]
            assert all(s.init_ms is not None and s.init_ms > 0 for s in cold.samples)
            warm = ow_bench.warm(seq, {"n": 1}, rounds=3, warmup=1)
            assert [s.cold for s in warm.samples] == [False, False, False]
    """)
    result = pytester.runpytest("--ow-cluster=local", "--ow-prewarm=none", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_seq*cold*cold*2*2 (100%)*"])
