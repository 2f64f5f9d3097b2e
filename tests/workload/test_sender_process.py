"""The sender in its own process: its scheduling, results kept when it dies, exact timer, raw HTTP client.

No timing asserts: only what happened (which process sent, what was recorded, never early).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_openwhisk.samples import ACCEPTED_NO_RESULT, CLIENT_ERROR
from pytest_openwhisk.workload import priority
from pytest_openwhisk.workload.rawhttp import Pool, build_request
from pytest_openwhisk.workload.records import DROPPED
from pytest_openwhisk.workload.sendconfig import SenderConfig
from pytest_openwhisk.workload.sender import OpenLoopSender
from pytest_openwhisk.workload.sendresult import Counters
from pytest_openwhisk.workload.spec import Instance, Workload, WorkloadError
from pytest_openwhisk.workload.timer import PreciseTimer

from .fake_openwhisk import FakeOpenWhisk

AUTH = "user:secretkey"


def _uniform(action: str, rate: float, duration: float) -> Workload:
    return Workload(
        "t", duration, seed=1, instances=(Instance("i", action, distribution="uniform", rate=rate),)
    )


def test_sender_runs_in_its_own_process_and_session(fake: FakeOpenWhisk) -> None:
    result = OpenLoopSender(fake.apihost, AUTH, "guest").run(_uniform("fast", 20.0, 0.3))
    assert {s.status for s in result.samples} == {ACCEPTED_NO_RESULT}
    got = result.scheduling
    assert got["own_process"] is True
    assert got["own_session"] is True  # its own session: its own autogroup, Ctrl-C reaches only the caller
    assert got["pid"] != os.getpid()
    if sys.platform.startswith("linux"):
        assert got["timer"] == "timerfd"
        assert got["cpu_s"] > 0  # what it got from the scheduler: CPU time and the wait for a CPU
        assert got["runqueue_wait_s"] >= 0
    # what was asked (real-time, else the configured nice), or a note saying why not; it ran either way
    assert got["policy"] == "SCHED_FIFO" or got["nice"] == SenderConfig().nice or got["notes"]


def test_thread_mode_reports_it(fake: FakeOpenWhisk) -> None:
    cfg = SenderConfig(process=False)
    result = OpenLoopSender(fake.apihost, AUTH, "guest", cfg).run(_uniform("fast", 20.0, 0.3))
    assert {s.status for s in result.samples} == {ACCEPTED_NO_RESULT}
    assert result.scheduling["own_process"] is False


def test_killed_sender_process_keeps_what_it_reported_and_records_the_rest(fake: FakeOpenWhisk) -> None:
    """The sender process dies mid-run: every scheduled request still ends as a sample; the ones it
    reported keep their outcome, the others are recorded errors saying why (none silently lost)."""
    sender = OpenLoopSender(fake.apihost, AUTH, "guest", SenderConfig(flush_s=0.01))
    killed: list[int] = []

    def on_tick(c: Counters) -> None:
        pid = sender.process_id
        if c.completed >= 5 and pid is not None and not killed:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    result = sender.run(_uniform("fast", 40.0, 20.0), on_tick=on_tick, tick_s=0.02)
    assert killed
    samples = result.samples
    assert len(samples) == 800
    accepted = [s for s in samples if s.status == ACCEPTED_NO_RESULT]
    lost = [s for s in samples if s.status == CLIENT_ERROR]
    assert len(accepted) >= 5
    assert len(accepted) + len(lost) == 800
    assert all("not reported: the sender process exited with code -9" in (s.error or "") for s in lost)
    assert len(fake.records) >= len(accepted)  # what it reported did reach the server


def test_sigint_to_the_process_group_does_not_stop_the_sender(fake: FakeOpenWhisk) -> None:
    """The sender process ignores SIGINT (Ctrl-C goes to the caller, which stops it in order)."""
    sender = OpenLoopSender(fake.apihost, AUTH, "guest")
    sent: list[int] = []

    def on_tick(c: Counters) -> None:
        pid = sender.process_id
        if pid is not None and not sent and c.sent:
            os.kill(pid, signal.SIGINT)
            sent.append(pid)

    result = sender.run(_uniform("fast", 20.0, 0.5), on_tick=on_tick, tick_s=0.02)
    assert sent
    assert {s.status for s in result.samples} == {ACCEPTED_NO_RESULT}


def test_sender_process_that_cannot_start_is_an_error_with_its_stderr(
    fake: FakeOpenWhisk, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    script = tmp_path / "python"
    script.write_text("#!/bin/sh\necho 'no interpreter here' >&2\nexit 3\n")
    script.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(script))  # the sender process fails before reporting anything
    with pytest.raises(
        WorkloadError, match=r"exited with code 3 before it finished; its stderr:\nno interpreter"
    ):
        OpenLoopSender(fake.apihost, AUTH, "guest").run(_uniform("fast", 20.0, 0.3))


def test_stop_before_anything_is_sent_drops_everything(fake: FakeOpenWhisk) -> None:
    sender = OpenLoopSender(fake.apihost, AUTH, "guest", SenderConfig(lead_s=1.0))
    result = sender.run(_uniform("fast", 20.0, 1.0), on_tick=lambda c: sender.stop("asked"), tick_s=0.01)
    assert result.interrupted
    assert {s.status for s in result.samples} == {DROPPED}
    assert {s.error for s in result.samples} == {"asked"}


def test_config_is_checked() -> None:
    with pytest.raises(
        WorkloadError, match=r"priority = 'max' is invalid: must be one of off, nice, realtime"
    ):
        SenderConfig(priority="max")
    with pytest.raises(WorkloadError, match=r"nice = -30 is invalid: must be -20\.\.19"):
        SenderConfig(nice=-30)
    with pytest.raises(WorkloadError, match=r"cpus = 'all' is invalid"):
        SenderConfig(cpus="all")
    with pytest.raises(WorkloadError, match=r"http = 'h2' is invalid: must be 'raw' or 'aiohttp'"):
        SenderConfig(http="h2")


# -- scheduling ---------------------------------------------------------------------------------------------
class _Cfg:
    def __init__(self, **kw: Any) -> None:
        self.priority, self.nice, self.autogroup_nice, self.cpus = "nice", -5, None, "off"
        self.precise_timer = True
        self.__dict__.update(kw)


def test_scheduling_degrades_without_autogroup_or_privilege(monkeypatch: pytest.MonkeyPatch) -> None:
    """Empty /proc/self/autogroup (a CI container) and no CAP_SYS_NICE: notes, no crash."""
    monkeypatch.setattr(priority, "_autogroup", lambda: None)

    def refuse(*_: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "setpriority", refuse)
    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    monkeypatch.setattr(os, "sched_setaffinity", refuse)
    got = priority.apply_scheduling(_Cfg(priority="realtime", cpus=(0,)))
    assert got["policy"] == "normal"
    assert any(n.startswith("realtime: Operation not permitted") for n in got["notes"])
    assert any(n.startswith("autogroup: none") for n in got["notes"])
    assert any(n.startswith("nice -5: Operation not permitted") for n in got["notes"])
    assert any(n.startswith("cpus [0]") for n in got["notes"])
    assert got["pinned"] is False


def test_realtime_only_with_the_timerfd(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fallback timer spins: a spinning real-time process would take a whole core from the server."""
    monkeypatch.setattr(os, "setpriority", lambda *_: None)  # this test process keeps its priority
    monkeypatch.setattr(priority, "_autogroup", lambda: None)
    got = priority.apply_scheduling(_Cfg(priority="realtime", precise_timer=False))
    assert got["policy"] == "normal"
    assert any("only with the timerfd" in n for n in got["notes"])


def test_cpu_choice() -> None:
    assert priority.choose_cpus("auto", {0, 1}) is None  # two CPUs: pinning only takes choices away
    assert priority.choose_cpus("auto", {0, 1, 2, 3}) == {3}
    assert priority.choose_cpus("off", {0, 1, 2, 3}) is None
    assert priority.choose_cpus((1, 9), {0, 1}) == {1}


# -- timer ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("precise", [True, False], ids=["timerfd", "sleep-spin"])
def test_timer_never_wakes_early_and_can_be_woken(precise: bool) -> None:
    async def main() -> tuple[str, list[float], float]:
        loop = asyncio.get_running_loop()
        timer = PreciseTimer(loop, precise=precise)
        try:
            early = []
            for delay in (0.0, 0.003, 0.02):
                deadline = time.monotonic() + delay
                await timer.wait_until(deadline)
                early.append(deadline - time.monotonic())
            loop.call_later(0.05, timer.wake)
            start = time.monotonic()
            await timer.wait_until(start + 3600)
            return timer.kind, early, time.monotonic() - start
        finally:
            timer.close()

    kind, early, woken_after = asyncio.run(main())
    assert kind == ("timerfd" if precise and sys.platform.startswith("linux") else "sleep+spin")
    assert all(e <= 0 for e in early)  # never before the deadline
    assert woken_after < 3600


# -- raw HTTP client -----------------------------------------------------------------------------------
RESPONSES = {
    b"/length": b"HTTP/1.1 202 Accepted\r\nContent-Length: 7\r\nx-openwhisk-activation-id: abc\r\n\r\n"
    b'{"a":1}',
    b"/chunked": b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{"b\r\n4\r\n":2}\r\n0\r\n\r\n',
    b"/close": b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-close",
    b"/garbage": b"SMTP ready\r\n\r\n",
}


class _Canned(asyncio.Protocol):
    """Answers each request (one per read, which is enough here) with the canned response of its path."""

    connections = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        _Canned.connections += 1

    def data_received(self, data: bytes) -> None:
        path = data.split(b" ", 2)[1]
        self.transport.write(RESPONSES[path])
        if path in (b"/close", b"/garbage"):
            self.transport.close()


@pytest.fixture
def canned() -> Iterator[tuple[asyncio.AbstractEventLoop, int]]:
    """A loop with a server of canned HTTP responses; (loop, port)."""
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(loop.create_server(_Canned, "127.0.0.1", 0))
    _Canned.connections = 0
    yield loop, server.sockets[0].getsockname()[1]
    server.close()
    loop.run_until_complete(server.wait_closed())
    loop.close()


def test_raw_client_reads_length_chunked_and_until_close(
    canned: tuple[asyncio.AbstractEventLoop, int],
) -> None:
    loop, port = canned

    async def main() -> list[tuple[Any, ...]]:
        results: list[tuple[Any, ...]] = []
        pool: Pool | None = None
        for path in ("/length", "/length", "/chunked", "/close", "/length", "/garbage"):
            address, payload = build_request(f"http://127.0.0.1:{port}{path}", b"{}", {"Authorization": "x"})
            pool = pool or Pool(loop, address, True, 5.0)
            done = loop.create_future()
            pool.request(payload, lambda *r, f=done: f.set_result(r))
            results.append(await asyncio.wait_for(done, 5))
        assert pool is not None
        pool.close()
        return results

    results = loop.run_until_complete(main())
    assert results[0] == (202, "abc", b'{"a":1}', None)
    assert results[1] == (202, "abc", b'{"a":1}', None)
    assert results[2] == (200, None, b'{"b":2}', None)
    assert results[3] == (200, None, b"until-close", None)
    assert results[4] == (202, "abc", b'{"a":1}', None)
    assert results[5][0] == 0
    assert "bad HTTP response" in results[5][3]
    assert _Canned.connections == 2  # one kept alive until the server closed it, then a new one


def test_build_request_rejects_other_schemes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"url 'ftp://h/x' is invalid"):
        build_request("ftp://h/x", None, {})
    address, payload = build_request("https://h:8443/a/b?blocking=false", b"{}", {"X": "1"})
    assert address == ("https", "h", 8443)
    assert payload.startswith(b"POST /a/b?blocking=false HTTP/1.1\r\nHost: h:8443\r\nContent-Length: 2\r\n")
    assert payload.endswith(b"X: 1\r\n\r\n{}")
