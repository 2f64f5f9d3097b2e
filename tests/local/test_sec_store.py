"""Activation store (issue 12 item 6): SQLite on disk, bounded memory and bounded list responses."""

from __future__ import annotations

import gc
import os
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from pytest_openwhisk.local import store as store_module
from pytest_openwhisk.local.config import LocalConfig, PoolConfig
from pytest_openwhisk.local.process import LocalOpenWhiskProcess
from pytest_openwhisk.local.server import LocalOpenWhisk
from pytest_openwhisk.local.store import Activation, ActivationStore, filter_key

from .conftest import Api, FakeInvoker


def _activation(i: int, *, name: str = "a", logs_kb: int = 0, ns: str = "guest") -> Activation:
    record: dict[str, Any] = {
        "namespace": ns,
        "name": name,
        "version": "0.0.1",
        "subject": ns,
        "activationId": f"{i:032x}",
        "start": 1000 + i,
        "end": 1010 + i,
        "duration": 10,
        "response": {"status": "success", "success": True, "result": {"i": i}},
        "logs": ["x" * 1024] * logs_kb,
        "annotations": [{"key": "path", "value": f"{ns}/{name}"}]
        + ([{"key": "initTime", "value": 5}] if i == 0 else []),
        "publish": False,
    }
    return Activation(record, 0, filter_key(ns, name, f"{ns}/{name}"))


def test_records_live_on_disk_and_memory_stays_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "CACHE_BYTES", 2 << 20)
    store = ActivationStore(str(tmp_path / "activations.sqlite"))
    for i in range(40):  # 40 records of ~256 KB of logs each: 10 MB, the cache keeps 2 MB
        store.add(_activation(i, logs_kb=256))
    assert store._cache_bytes <= 2 << 20
    assert len(store) == 40
    first = store.get("guest", f"{0:032x}")  # long evicted from the cache: read back from SQLite
    assert first is not None
    assert first.record()["response"]["result"] == {"i": 0}
    assert store.get("other", f"{0:032x}") is None
    store.close()
    with sqlite3.connect(tmp_path / "activations.sqlite") as db:  # queryable after the run
        rows = db.execute(
            "SELECT COUNT(*), SUM(cold), MIN(start), MAX(json_extract(body, '$.response.result.i')) "
            "FROM activations"
        ).fetchone()
    assert rows == (40, 1, 1000, 39)
    with sqlite3.connect(tmp_path / "activations.sqlite") as db:  # the record is JSON text, not a blob
        assert db.execute("SELECT DISTINCT typeof(body) FROM activations").fetchall() == [("text",)]


def test_list_semantics_newest_first_with_window_skip_limit_and_name(tmp_path: Path) -> None:
    store = ActivationStore(str(tmp_path / "a.sqlite"))
    for i in range(10):
        store.add(_activation(i, name="a" if i % 2 else "b"))
    ids = [s.start for s in store.query("guest", limit=3, skip=1)]
    assert ids == [1008, 1007, 1006]
    assert [s.start for s in store.query("guest", name="a", since=1003, upto=1007)] == [1007, 1005, 1003]
    assert store.count("guest", name="b") == 5
    assert store.count("guest", skip=4, since=1005) == 1
    assert list(store.query("nobody")) == []


def test_a_list_response_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "LIST_MAX_BYTES", 1 << 20)
    store = ActivationStore(str(tmp_path / "a.sqlite"))
    for i in range(20):
        store.add(_activation(i, logs_kb=300))
    page = list(store.query("guest", limit=200))
    assert 1 <= len(page) <= 4  # ~300 KB each, at most 1 MB in all
    assert sum(len(s.body) for s in page) <= 1 << 20
    huge = ActivationStore(str(tmp_path / "b.sqlite"))
    huge.add(_activation(0, logs_kb=2048))
    assert len(list(huge.query("guest"))) == 1  # a single record larger than the cap is still listed


def test_the_server_writes_its_records_to_the_configured_file(
    tmp_path: Path, fake_invoker: FakeInvoker
) -> None:
    path = tmp_path / "results" / "activations.sqlite"
    with LocalOpenWhisk(LocalConfig(port=0, activation_store=str(path)), invoker=fake_invoker) as ow:
        api = Api(ow.apihost, ow.auth)
        api.put_action("a")
        ids = [api.invoke("a", {"i": i}).json()["activationId"] for i in range(3)]
        assert api.activation(ids[0]).json()["response"]["result"] == {"i": 0}
        api.close()
    with sqlite3.connect(path) as db:
        stored = {row[0] for row in db.execute("SELECT id FROM activations WHERE name = 'a'")}
    assert stored == set(ids)


def test_a_temporary_store_removes_its_file() -> None:
    store = ActivationStore()
    store.add(_activation(1))
    path = Path(store.path)
    assert path.exists()
    store.close()
    del store
    gc.collect()
    assert not path.exists()


def test_storing_never_waits_on_sqlite_and_every_record_stays_retrievable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holds SQLite's write lock: ``add`` still returns at once (the writer thread waits,
    not the event loop), the records are readable from the cache meanwhile, and reads that go to SQLite
    (lists, counts) see every one once the lock is gone."""
    monkeypatch.setattr(store_module, "FLUSH_ROWS", 1)  # every record is a batch of its own
    path = tmp_path / "a.sqlite"
    store = ActivationStore(str(path))
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # SQLite's busy timeout (5 s) is longer than this test needs
    try:
        for i in range(3):
            store.add(_activation(i))
        found = store.get("guest", f"{1:032x}")
        assert found is not None
        assert found.record()["response"]["result"] == {"i": 1}
    finally:
        blocker.execute("COMMIT")
        blocker.close()
    assert store.count("guest") == 3
    assert [s.start for s in store.query("guest")] == [1002, 1001, 1000]
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM activations").fetchone()[0] == 3


def test_a_read_waits_for_records_the_writer_has_not_committed_yet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "FLUSH_ROWS", 1_000_000)  # the writer would wait FLUSH_S for more
    monkeypatch.setattr(store_module, "FLUSH_S", 3600.0)
    monkeypatch.setattr(store_module, "CACHE_BYTES", 1)  # only the newest record stays in memory
    store = ActivationStore(str(tmp_path / "a.sqlite"))
    for i in range(5):
        store.add(_activation(i))
    oldest = store.get("guest", f"{0:032x}")  # evicted from the cache, not committed: the read waits
    assert oldest is not None
    assert oldest.start == 1000
    assert store.count("guest") == 5
    store.add(_activation(5))
    store.close()  # commits what is pending without waiting FLUSH_S
    with sqlite3.connect(tmp_path / "a.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM activations").fetchone()[0] == 6


def test_a_blocking_invoke_is_retrievable_as_soon_as_it_returns(
    tmp_path: Path, fake_invoker: FakeInvoker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "FLUSH_S", 3600.0)  # nothing committed on the writer's own schedule
    monkeypatch.setattr(store_module, "FLUSH_ROWS", 1_000_000)
    config = LocalConfig(port=0, activation_store=str(tmp_path / "a.sqlite"))
    with LocalOpenWhisk(config, invoker=fake_invoker) as ow:
        api = Api(ow.apihost, ow.auth)
        api.put_action("a")
        ids = []
        for i in range(20):
            answer = api.invoke("a", {"i": i})
            assert answer.status_code == 200
            ids.append(answer.json()["activationId"])
            got = api.activation(ids[-1])
            assert got.status_code == 200
            assert got.json()["response"]["result"] == {"i": i}
        listed = api.get("/activations", params={"limit": 200}).json()
        assert {a["activationId"] for a in listed} == set(ids)
        api.close()


def test_an_interrupted_server_keeps_every_answered_activation(tmp_path: Path) -> None:
    """SIGINT right after the last blocking answer (the writer may not have committed it yet): the server
    commits what is pending on its way out."""
    path = tmp_path / "results" / "activations.sqlite"
    config = LocalConfig.benchmark(activation_store=str(path), pool=PoolConfig(prewarm=()))
    with LocalOpenWhiskProcess(config) as ow:
        api = Api(ow.apihost, ow.auth)
        api.put_action("noop", code="def main(args):\n    return args\n")
        ids = [api.invoke("noop", {"i": i}).json()["activationId"] for i in range(30)]
        api.close()
        assert ow.process is not None
        os.kill(ow.process.pid, signal.SIGINT)
        assert ow.process.wait(60) == 0
    with sqlite3.connect(path) as db:
        stored = {row[0] for row in db.execute("SELECT id FROM activations WHERE name = 'noop'")}
    assert stored == set(ids)


def test_the_record_cache_costs_the_garbage_collector_nothing(tmp_path: Path) -> None:
    """A full cache holds thousands of records: none of its entries may be tracked by the cyclic GC
    (every collection would walk them)."""
    store = ActivationStore(str(tmp_path / "a.sqlite"))
    for i in range(50):
        store.add(_activation(i))
    gc.collect()
    assert not any(gc.is_tracked(entry) for entry in store._cache.values())
    found = store.get("guest", f"{7:032x}")
    assert found is not None
    assert found.record()["response"]["result"] == {"i": 7}
    store.close()
