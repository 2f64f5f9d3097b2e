"""Ctrl-C during a measurement: streamed sample logs and partial measurements survive the interrupt.

Unit tests cover the JSONL writer (:mod:`pytest_openwhisk.measure.samplelog`) and the runners used directly
(no log by default, :class:`MeasurementInterrupted` with the samples so far). The pytester runs
interrupt ``ow_bench`` against the default local backend with a real SIGINT, sent by a wrapper around
the session client's ``invoke`` after a fixed number of invocations (deterministic), and check the
JSONL file, the ``--benchmark-json`` entry and the exit code.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from pytest_openwhisk.client import InvokeResult
from pytest_openwhisk.measure import MeasurementInterrupted, run_cold, run_concurrent, run_warm
from pytest_openwhisk.measure.samplelog import SampleLog, read_sample_log, sample_log_path
from pytest_openwhisk.names import slug
from pytest_openwhisk.samples import Sample

SECRET = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:" + "123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVC"


def sample(i: int, error: str | None = None) -> Sample:
    """A successful warm sample number ``i``."""
    return Sample(
        action="guest/t-hello",
        sent=1000.0 + i,
        received=1000.004 + i,
        latency_ms=4.0 + i,
        http_status=200,
        status="success",
        activation_id=f"{i:032x}",
        duration_ms=2.0,
        wait_ms=1.0,
        error=error,
    )


# -- the JSONL writer ------------------------------------------------------------------------------------


def test_sample_log_streams_one_flushed_line_per_sample(tmp_path: Path) -> None:
    path = sample_log_path(tmp_path, "tests/test_x.py::test_a[64-b]", "concurrent-4x25")
    assert path == tmp_path / "samples" / "tests_test_x.py_test_a_64-b" / "concurrent-4x25.jsonl"
    log = SampleLog(path)
    assert not path.exists()  # nothing measured, no file
    log(sample(0))
    log(sample(1))
    # readable while still open: every line was flushed when written
    assert path.read_bytes().count(b"\n") == 2
    assert read_sample_log(path) == [sample(0).to_dict(), sample(1).to_dict()]
    log.close()
    log.close()
    with pytest.raises(ValueError, match="is closed"):
        log(sample(2))
    assert log.count == 2


def test_sample_log_masks_secrets_and_replaces_a_stale_log(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text('{"stale": true}\n')
    with SampleLog(path, secrets=[SECRET, SECRET.split(":")[1]]) as log:
        assert not path.exists()
        log(sample(0, error=f"HTTP 401 for key {SECRET}"))
        log(sample(1, error=f"bad key {SECRET.split(':')[1]}"))
    text = path.read_text()
    assert SECRET.split(":")[1] not in text
    assert SECRET.split(":")[0] not in text
    assert [row["error"] for row in read_sample_log(path)] == ["HTTP 401 for key ***", "bad key ***"]


def test_sample_log_is_safe_from_many_threads(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    with SampleLog(path) as log:
        threads = [threading.Thread(target=lambda: [log(sample(i)) for i in range(200)]) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    rows = read_sample_log(path)
    assert len(rows) == 800
    assert log.count == 800


def test_read_sample_log_ignores_a_torn_last_line_only(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    line = orjson.dumps(sample(0).to_dict())
    path.write_bytes(line + b"\n" + line[:20])
    assert read_sample_log(path) == [sample(0).to_dict()]
    path.write_bytes(line[:20] + b"\n" + line + b"\n")
    with pytest.raises(ValueError, match=r"m\.jsonl:1 is not a JSON sample line"):
        read_sample_log(path)


def test_slug_is_bounded_and_unique() -> None:
    long_a, long_b = "t.py::test_" + "a" * 300 + "[1]", "t.py::test_" + "a" * 300 + "[2]"
    assert len(slug(long_a)) <= 120
    assert slug(long_a) != slug(long_b)
    assert slug("::") == "unnamed"


# -- the runners used directly ---------------------------------------------------------------------------


class ScriptedClient:
    """Answers every invoke with a success record; runs ``hook(n)`` before the n-th call (1-based)."""

    def __init__(self, hook: Any = None) -> None:
        self.calls = 0
        self.lock = threading.Lock()
        self.hook = hook

    def invoke(self, name: str, params: Any = None, **options: Any) -> InvokeResult:
        with self.lock:
            self.calls += 1
            n = self.calls
        if self.hook is not None:
            self.hook(n)
        now = time.time()
        body = {
            "activationId": f"{n:032x}",
            "start": 1,
            "end": 3,
            "duration": 2,
            "annotations": [{"key": "waitTime", "value": 1}],
            "response": {"status": "success", "success": True, "result": {}},
        }
        return InvokeResult(200, body, body["activationId"], now, now + 0.002, 2.0)


class NoBackend:
    def force_cold(self, client: Any, action: str) -> None:
        pass


def interrupt_on(call: int) -> Any:
    def hook(n: int) -> None:
        if n == call:
            raise KeyboardInterrupt

    return hook


def test_runners_write_no_log_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    client: Any = ScriptedClient()
    seen: list[Sample] = []
    warm = run_warm(client, "hello", rounds=3, warmup=2)
    assert len(warm.samples) == 3
    assert "interrupted" not in warm.extra
    run_cold(client, NoBackend(), "hello", rounds=2)
    run_concurrent(client, "hello", clients=2, per_client=2, warmup=1, on_sample=seen.append)
    assert list(tmp_path.iterdir()) == []
    assert len(seen) == 4
    assert all(s.mode == "concurrent" for s in seen)


@pytest.mark.parametrize("mode", ["warm", "cold"])
def test_interrupted_runner_raises_the_partial_measurement(mode: str) -> None:
    seen: list[Sample] = []
    if mode == "warm":  # 2 warm-ups + 4 samples, Ctrl-C in the 7th invocation
        client: Any = ScriptedClient(interrupt_on(7))
        run = lambda: run_warm(client, "hello", rounds=50, warmup=2, on_sample=seen.append)  # noqa: E731
    else:
        client = ScriptedClient(interrupt_on(5))
        run = lambda: run_cold(client, NoBackend(), "hello", rounds=50, on_sample=seen.append)  # noqa: E731
    with pytest.raises(KeyboardInterrupt) as info:
        run()
    assert isinstance(info.value, MeasurementInterrupted)
    partial = info.value.measurement
    assert len(partial.samples) == 4
    assert partial.samples == seen
    assert partial.extra["interrupted"] is True
    assert partial.extra["in_flight"] == 1
    assert partial.mode == mode
    assert partial.name == mode
    assert f"measurement '{mode}' interrupted after 4 sample(s)" in str(info.value)


def test_interrupted_concurrent_run_stops_its_clients_promptly(sigint_raises: None) -> None:
    def sigint_on_tenth(n: int) -> None:
        if n == 10:  # from a client thread: the signal lands in the main thread, waiting for the clients
            os.kill(os.getpid(), signal.SIGINT)

    client: Any = ScriptedClient(sigint_on_tenth)
    seen: list[Sample] = []
    with pytest.raises(MeasurementInterrupted) as info:
        run_concurrent(client, "hello", clients=3, per_client=100_000, warmup=1, on_sample=seen.append)
    partial = info.value.measurement
    assert partial.extra["interrupted"] is True
    assert partial.extra["in_flight"] == 0
    assert 7 <= len(partial.samples) < 3 * 100_000
    assert sorted(partial.samples, key=lambda s: s.sent) == partial.samples
    assert not [t for t in threading.enumerate() if t.name.startswith("ow-client")]
    assert {s.activation_id for s in seen} == {s.activation_id for s in partial.samples}


# -- ow_bench against the local backend, with a real SIGINT ---------------------------------------------

CONFTEST = '''
import os
import signal
import threading
from pathlib import Path

import pytest

SEEN = {}


@pytest.fixture
def sigint_on_invoke(ow_client, ow_cluster, monkeypatch):
    """arm(n): the n-th invocation from now on sends SIGINT to this process instead of invoking.

    Installs Python's SIGINT handler first: started as a background job (``cmd &``) or under nohup,
    the process inherits SIGINT ignored, and the signal would never become a KeyboardInterrupt.
    """
    SEEN["auth"] = ow_cluster.auth  # kept in memory only, to check the saved files
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def arm(n):
        real, lock, count = ow_client.invoke, threading.Lock(), [0]

        def invoke(*args, **kwargs):
            with lock:
                count[0] += 1
                mine = count[0]
            if mine == n:
                os.kill(os.getpid(), signal.SIGINT)
            return real(*args, **kwargs)

        monkeypatch.setattr(ow_client, "invoke", invoke)
    return arm


def pytest_unconfigure(config):
    key = SEEN.get("auth", "x:").split(":")[1]
    files = [p for p in Path(config.rootpath).rglob("*") if p.is_file() and p.suffix in (".json", ".jsonl")]
    leaked = [str(p) for p in files if key and key in p.read_text()]
    print(f"SECRET-CHECK files={len(files)} leaked={leaked}")
'''

TEST_FILE = """
import pytest

CODE = "import time\\ndef main(args):\\n    time.sleep(0.02)\\n    return {'ok': True}\\n"


@pytest.mark.ow_slo(p50="1ms")  # a 20 ms action misses it: SLOs must not be applied to a partial run
def test_measure(ow_action, ow_bench, sigint_on_invoke):
    action = ow_action("sleepy", code=CODE, kind="python:3")
    MODE
    raise AssertionError("the interrupt did not stop the measurement")


def test_never_runs():
    raise AssertionError("the session should have stopped")
"""

MODES = {
    # mode: (code, measurement name, samples expected (None: not fixed))
    "warm": ("sigint_on_invoke(2 + 5 + 1); ow_bench.warm(action, rounds=200, warmup=2)", "warm", 5),
    "cold": ("sigint_on_invoke(2 + 1); ow_bench.cold(action, rounds=50)", "cold", 2),
    "concurrent": (
        "sigint_on_invoke(3 + 6); ow_bench.concurrent(action, clients=3, per_client=200)",
        "concurrent-3x200",
        None,
    ),
}


@pytest.mark.parametrize("mode", list(MODES))
def test_ctrl_c_keeps_the_partial_measurement(pytester: pytest.Pytester, mode: str) -> None:
    code, name, expected = MODES[mode]
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_inner=TEST_FILE.replace("MODE", code))
    out = pytester.path / "out.json"
    result = pytester.runpytest_subprocess(
        "--ow-prewarm=none", "-p", "no:cacheprovider", "-s", f"--benchmark-json={out}", timeout=180
    )
    text = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.INTERRUPTED, text
    result.stdout.fnmatch_lines(
        [
            f"*MeasurementInterrupted: measurement '{name}' interrupted after *",
            "*SECRET-CHECK files=2 leaked=[[][]]*",
        ]
    )
    assert "the interrupt did not stop" not in text
    assert "should have stopped" not in text
    assert "SLO violated" not in text

    log = pytester.path / ".ow-results" / "samples" / "test_inner.py_test_measure" / f"{name}.jsonl"
    rows = read_sample_log(log)
    if expected is not None:
        assert len(rows) == expected
    else:
        assert 6 <= len(rows) < 3 * 200
    for row in rows:
        assert row["status"] == "success"
        assert row["latency_ms"] >= 20
        assert row["activation_id"]
        assert row["mode"] == mode

    [entry] = json.loads(out.read_text())["benchmarks"]
    assert entry["fullname"] == f"test_inner.py::test_measure[{name}]"
    info = entry["extra_info"]
    assert info["ow_extra"]["interrupted"] is True
    assert info["ow_slo"] == []
    assert info["ow_summary"]["count"] == len(rows) == entry["stats"]["rounds"]
    assert info["ow_samples"]["latency_ms"] == [row["latency_ms"] for row in rows] or mode == "concurrent"
    if mode == "concurrent":  # the log is in completion order, the measurement in send order
        assert sorted(info["ow_samples"]["latency_ms"]) == sorted(row["latency_ms"] for row in rows)
    result.stdout.fnmatch_lines(
        ["*openwhisk measurements*", f"*test_measure*{name}*{mode}*interrupted: partial, SLOs not checked*"]
    )
