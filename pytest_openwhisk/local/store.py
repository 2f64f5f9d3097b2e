"""Activation store of the embedded controller: SQLite on disk, a bounded cache in memory.

Every finished activation is written to a SQLite database (``LocalConfig.activation_store``, e.g. in the
results folder, where it stays queryable after the run as the seed's analyser queried CouchDB; a temporary
file removed at close when unset), so a long run's records and logs cost disk, not server memory.

The event loop never waits on SQLite when it stores a record: :meth:`ActivationStore.add` serialises the
record once, keeps it in a cache of recent records bounded by :data:`CACHE_BYTES` (``GET …/{id}`` of a
just-finished activation is answered from there) and hands the row to a writer thread, which commits
batches (one transaction per :data:`FLUSH_ROWS` rows or :data:`FLUSH_S`) on its own connection. Every read
that goes to SQLite (a cache miss, a list, a count) first waits until the writer has committed every
row handed to it so far, so reads see every stored activation. :meth:`ActivationStore.close` (server
stop, SIGINT/SIGTERM) and interpreter exit commit what is pending; only a hard kill can lose the last
:data:`FLUSH_S` of records. List queries keep OpenWhisk's semantics (the ``activations`` and
``activations-filters`` views: newest ``start`` first, ``since``/``upto`` inclusive, ``skip``, ``limit``) on
indexes by namespace and by name filter key; a list stops early once it holds :data:`LIST_MAX_BYTES` of
records (at least one), so no response can grow past that (a client paging with ``skip`` += what it got
still sees every record).

Reads and the cache belong to the server's event loop thread; the writer thread only writes.

Table ``activations``: ``seq`` (insertion order), ``id``, ``namespace``, ``filter_key`` (``ns/[pkg/]name``),
``name``, ``start``/``end`` (epoch ms), ``duration`` (ms), ``status_code`` (0-3), ``cold`` (1 when the record
has ``initTime``), ``body`` (the record as JSON text: ``json_extract(body, '$.response.result')`` works).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import tempfile
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

log = logging.getLogger("pytest_openwhisk.local")


@dataclass(slots=True)
class Activation:
    """One finished activation as the controller produced it (the record as a dict)."""

    record: dict[str, Any]  # full record as GET returns it (response without statusCode)
    status_code: int
    filter_key: str  # "ns/name" or "ns/pkg/name" (activations-filters view)
    body: bytes | None = None  # the record as JSON (a blocking answer sends it; the store reuses it)


class Stored:
    """What the store keeps of an activation: its JSON bytes plus the fields the views sort and filter on.

    Serialised once at the end of the activation, so a long benchmark's records cost the garbage collector
    one object each (not ~25), and ``GET …/activations/{id}`` sends the bytes as they are."""

    __slots__ = ("activation_id", "body", "namespace", "start", "status_code")

    def __init__(self, activation_id: str, namespace: str, start: int, status_code: int, body: bytes) -> None:
        self.activation_id = activation_id
        self.namespace = namespace
        self.start = start
        self.status_code = status_code
        self.body = body

    @classmethod
    def of(cls, activation: Activation) -> Stored:
        """Serialise a finished activation (once)."""
        record = activation.record
        body = activation.body if activation.body is not None else orjson.dumps(record)
        body = bytes(memoryview(body))  # exact-size copy: orjson keeps a spare buffer
        return cls(record["activationId"], record["namespace"], record["start"], activation.status_code, body)

    def record(self) -> dict[str, Any]:
        return dict(orjson.loads(self.body))

    def summary(self) -> dict[str, Any]:
        """The ``activations`` view summary (duration = end - start, statusCode exposed)."""
        r = self.record()
        s: dict[str, Any] = {
            "namespace": r["namespace"],
            "name": r["name"],
            "version": r["version"],
            "publish": r["publish"],
            "annotations": r["annotations"],
            "activationId": r["activationId"],
            "start": r["start"],
        }
        if "end" in r:  # a trigger's record has none (OpenWhisk omits end, duration, statusCode then)
            s["end"] = r["end"]
            s["duration"] = r["end"] - r["start"]
        if "cause" in r:
            s["cause"] = r["cause"]
        if "end" in r:
            s["statusCode"] = self.status_code
        return s


def filter_key(namespace: str, name: str, path: str) -> str:
    """``ns/[pkg/]name`` from the invoking namespace, the action name and its ``path`` annotation."""
    parts = path.split("/")
    return f"{namespace}/{parts[1]}/{name}" if len(parts) == 3 else f"{namespace}/{name}"


FLUSH_ROWS = 256  # write pending rows in one transaction once this many wait
FLUSH_S = 0.05  # ... or once the oldest has waited this long
CACHE_BYTES = 16 * 1024 * 1024  # recent record bodies kept in memory
LIST_MAX_BYTES = 32 * 1024 * 1024  # a list response stops once it holds this much (at least one record)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS activations (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    namespace TEXT NOT NULL,
    filter_key TEXT NOT NULL,
    name TEXT NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER,
    duration INTEGER,
    status_code INTEGER NOT NULL,
    cold INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS activations_id ON activations(id);
CREATE INDEX IF NOT EXISTS activations_ns ON activations(namespace, start, seq);
CREATE INDEX IF NOT EXISTS activations_key ON activations(filter_key, start, seq);
"""
_INSERT = (
    'INSERT OR REPLACE INTO activations (id, namespace, filter_key, name, start, "end", duration, '
    "status_code, cold, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, CAST(? AS TEXT))"  # UTF-8 bytes in, text
)
_PRAGMAS = ("journal_mode=WAL", "synchronous=OFF", "temp_store=MEMORY", "cache_size=-4096")

# (id, namespace, filter_key, name, start, end, duration, status_code, cold, body as UTF-8 bytes)
_Row = tuple[str, str, str, str, int, int | None, int | None, int, int, bytes]


def _connect(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    for pragma in _PRAGMAS:
        db.execute(f"PRAGMA {pragma}")
    return db


class _Writer:
    """The thread that commits rows in batches on its own connection (see the module docstring).

    ``submit`` is called on the event loop and only appends to a list; ``sync`` returns once every row
    submitted before it is committed; ``close`` commits the rest, checkpoints the WAL and ends the thread
    (idempotent; also run at interpreter exit)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._db = _connect(path)
        self._cond = threading.Condition()
        self._rows: list[_Row] = []
        self._since = 0.0  # monotonic time the oldest pending row was submitted
        self._submitted = 0
        self._written = 0
        self._urgent = False  # a reader waits: write now, do not wait for a fuller batch
        self._closing = False
        self.failures = 0  # batches SQLite refused (logged; their rows stay in the cache only)
        self._thread = threading.Thread(target=self._run, name="ow-activation-writer", daemon=True)
        self._thread.start()

    def submit(self, row: _Row) -> None:
        with self._cond:
            if not self._rows:
                self._since = time.monotonic()
                self._cond.notify()
            self._rows.append(row)
            self._submitted += 1
            if len(self._rows) == FLUSH_ROWS:
                self._cond.notify()

    def sync(self) -> None:
        """Wait until every submitted row is committed (the caller then reads with its own connection)."""
        with self._cond:
            target = self._submitted
            if self._written >= target or not self._thread.is_alive():
                return
            self._urgent = True
            self._cond.notify_all()
            while self._written < target and self._thread.is_alive():
                self._cond.wait(0.5)

    def _take(self) -> list[_Row] | None:
        """The next batch (None once closing and empty); waits for rows, then for a fuller batch."""
        with self._cond:
            while True:
                if self._rows and (self._urgent or self._closing or len(self._rows) >= FLUSH_ROWS):
                    break
                if self._rows:
                    left = FLUSH_S - (time.monotonic() - self._since)
                    if left <= 0:
                        break
                    self._cond.wait(left)
                elif self._closing:
                    return None
                else:
                    self._cond.wait()
            rows, self._rows = self._rows, []
            self._urgent = False
            return rows

    def _run(self) -> None:
        while (rows := self._take()) is not None:
            try:
                self._write(rows)
            except Exception:  # disk full, file removed, ...: keep serving (the cache still has them)
                self.failures += 1
                log.exception("activation store %s: %d records not written", self.path, len(rows))
            with self._cond:
                self._written += len(rows)
                self._cond.notify_all()

    def _write(self, rows: list[_Row]) -> None:
        db = self._db
        with contextlib.suppress(sqlite3.OperationalError):
            db.execute("BEGIN")
        db.executemany(_INSERT, rows)
        db.execute("COMMIT")

    def close(self) -> None:
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.close()


def _discard(writer: _Writer, db: sqlite3.Connection, temporary: str | None) -> None:
    writer.close()
    db.close()
    if temporary is not None:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.unlink(temporary + suffix)


class ActivationStore:
    """Every finished activation, in SQLite; by id and sorted by start (see the module docstring)."""

    def __init__(self, path: str | None = None) -> None:
        self._owned = path is None
        if path is None:
            fd, path = tempfile.mkstemp(prefix="ow-activations-", suffix=".sqlite")
            os.close(fd)
        else:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.path = path
        self._db: sqlite3.Connection | None = _connect(path)
        self._db.executescript(_SCHEMA)
        self._count = int(self._db.execute("SELECT COUNT(*) FROM activations").fetchone()[0])
        self._writer = _Writer(path)
        # id -> (namespace, start, status code, body): plain tuples of atomic values, which the garbage
        # collector stops tracking, so a full cache costs its collections nothing
        self._cache: OrderedDict[str, tuple[str, int, int, bytes]] = OrderedDict()
        self._cache_bytes = 0
        # a store never closed (a server torn down abruptly) still commits its rows and removes its
        # temporary file, when collected or at interpreter exit
        self._finalizer = weakref.finalize(
            self, _discard, self._writer, self._db, path if self._owned else None
        )

    def __len__(self) -> int:
        return self._count

    # --- writing ---------------------------------------------------------------------------------------

    def add(self, activation: Activation) -> Stored:
        """Store a finished activation: visible to every read from now on (committed by the writer)."""
        stored = Stored.of(activation)
        record = activation.record
        end = record.get("end")
        cold = any(a.get("key") == "initTime" for a in record.get("annotations", ()))
        self._writer.submit(
            (
                stored.activation_id,
                stored.namespace,
                activation.filter_key,
                record.get("name", ""),
                stored.start,
                end,
                None if end is None else record.get("duration", end - stored.start),
                stored.status_code,
                int(cold),
                stored.body,
            )
        )
        self._count += 1
        self._remember(stored)
        activation.body = stored.body
        return stored

    def flush(self) -> None:
        """Wait until every stored activation is committed to the file."""
        self._writer.sync()

    def close(self) -> None:
        """Commit what is pending and checkpoint: the file is complete for other readers. The store stays
        readable; the connection closes (and a temporary file is removed) when the store is collected or
        at exit."""
        self._writer.close()

    def _remember(self, stored: Stored) -> None:
        self._cache[stored.activation_id] = (stored.namespace, stored.start, stored.status_code, stored.body)
        self._cache_bytes += len(stored.body)
        while self._cache_bytes > CACHE_BYTES and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._cache_bytes -= len(old[3])

    # --- reading ---------------------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the activation store is closed")
        self._writer.sync()
        return self._db

    def get(self, namespace: str, activation_id: str) -> Stored | None:
        """The activation ``activation_id`` of ``namespace``, or None."""
        cached = self._cache.get(activation_id)
        if cached is not None:
            found = Stored(activation_id, *cached)
        else:
            row = (
                self._conn()
                .execute(
                    "SELECT id, namespace, start, status_code, body FROM activations WHERE id = ?",
                    (activation_id,),
                )
                .fetchone()
            )
            if row is None:
                return None
            found = Stored(row[0], row[1], row[2], row[3], row[4].encode())
        return found if found.namespace == namespace else None

    @staticmethod
    def _where(
        namespace: str, name: str | None, since: int | None, upto: int | None
    ) -> tuple[str, list[object]]:
        args: list[object]
        if name is None:
            clauses, args = ["namespace = ?"], [namespace]
        else:
            clauses, args = ["filter_key = ?"], [f"{namespace}/{name}"]
        if since is not None:
            clauses.append("start >= ?")
            args.append(since)
        if upto is not None:
            clauses.append("start <= ?")
            args.append(upto)
        return " AND ".join(clauses), args

    def query(
        self,
        namespace: str,
        *,
        name: str | None = None,
        skip: int = 0,
        limit: int = 30,
        since: int | None = None,
        upto: int | None = None,
    ) -> Iterator[Stored]:
        """Newest first, ``since <= start <= upto`` (epoch ms), after ``skip``, at most ``limit`` records
        and at most :data:`LIST_MAX_BYTES` of them (at least one)."""
        where, args = self._where(namespace, name, since, upto)
        rows = (
            self._conn()
            .execute(
                f"SELECT id, namespace, start, status_code, body FROM activations WHERE {where} "
                "ORDER BY start DESC, seq DESC LIMIT ? OFFSET ?",
                (*args, max(0, limit), max(0, skip)),
            )
            .fetchall()
        )
        total = 0
        for row in rows:
            body = row[4].encode()
            total += len(body)
            if total > LIST_MAX_BYTES and total != len(body):
                return
            yield Stored(row[0], row[1], row[2], row[3], body)

    def count(
        self,
        namespace: str,
        *,
        name: str | None = None,
        skip: int = 0,
        since: int | None = None,
        upto: int | None = None,
    ) -> int:
        """How many records :meth:`query` could page through after ``skip``."""
        where, args = self._where(namespace, name, since, upto)
        found = self._conn().execute(f"SELECT COUNT(*) FROM activations WHERE {where}", args).fetchone()[0]
        return max(0, int(found) - skip)
