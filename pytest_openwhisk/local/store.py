"""In-memory activation store of the embedded controller.

It lives on the server's event loop thread (no locks). Activations are kept sorted by ``start`` per
namespace and per name filter key (the ``activations`` and ``activations-filters`` CouchDB views), so list
queries are a bisect plus a slice, newest first, whatever the number of records.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(slots=True)
class Activation:
    """One finished activation as the controller produced it (the record as a dict)."""

    record: dict[str, Any]  # full record as GET returns it (response without statusCode)
    status_code: int
    filter_key: str  # "ns/name" or "ns/pkg/name" (activations-filters view)


class Stored:
    """What the store keeps of an activation: its JSON bytes plus the fields the views sort and filter on.

    Serialised once at the end of the activation, so a long benchmark's records cost the garbage collector
    one object each (not ~25), and ``GET …/activations/{id}`` sends the bytes as they are."""

    __slots__ = ("activation_id", "body", "namespace", "start", "status_code")

    def __init__(self, activation: Activation) -> None:
        record = activation.record
        self.activation_id: str = record["activationId"]
        self.namespace: str = record["namespace"]
        self.start: int = record["start"]
        self.status_code = activation.status_code
        self.body = bytes(memoryview(orjson.dumps(record)))  # exact-size copy: orjson keeps a spare buffer

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


_Row = tuple[int, int, Stored]


class ActivationStore:
    """Every finished activation, by id and sorted by start."""

    def __init__(self) -> None:
        self._by_id: dict[str, Stored] = {}
        self._by_ns: dict[str, list[_Row]] = {}
        self._by_key: dict[str, list[_Row]] = {}
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._by_id)

    def add(self, activation: Activation) -> None:
        stored = Stored(activation)
        row = (stored.start, next(self._seq), stored)
        self._by_id[stored.activation_id] = stored
        bisect.insort(self._by_ns.setdefault(stored.namespace, []), row)
        bisect.insort(self._by_key.setdefault(activation.filter_key, []), row)

    def get(self, namespace: str, activation_id: str) -> Stored | None:
        found = self._by_id.get(activation_id)
        return found if found is not None and found.namespace == namespace else None

    def _rows(self, namespace: str, name: str | None) -> list[_Row]:
        if name is None:
            return self._by_ns.get(namespace, [])
        return self._by_key.get(f"{namespace}/{name}", [])

    def _window(self, rows: list[_Row], since: int | None, upto: int | None) -> tuple[int, int]:
        lo = 0 if since is None else bisect.bisect_left(rows, (since,))
        hi = len(rows) if upto is None else bisect.bisect_left(rows, (upto + 1,))
        return lo, max(lo, hi)

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
        """Newest first, ``since <= start <= upto`` (epoch ms), after ``skip``, at most ``limit``."""
        rows = self._rows(namespace, name)
        lo, hi = self._window(rows, since, upto)
        first = hi - 1 - skip
        last = max(lo, hi - skip - limit)
        for i in range(first, last - 1, -1):
            yield rows[i][2]

    def count(
        self,
        namespace: str,
        *,
        name: str | None = None,
        skip: int = 0,
        since: int | None = None,
        upto: int | None = None,
    ) -> int:
        lo, hi = self._window(self._rows(namespace, name), since, upto)
        return max(0, hi - lo - skip)
