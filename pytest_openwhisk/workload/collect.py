"""Fetch the activations of a workload run through the REST API and join them to the client records.

FaaSProfiler read CouchDB directly; we page through ``GET /namespaces/{ns}/activations`` filtered by
action name and time window (``since``/``upto`` in epoch ms, ``docs=true``) and join by activation id.
Non-blocking invocations finish after the sender stops, so collection polls (through
:func:`~pytest_openwhisk.wait.wait_until`) until every accepted id has a record or ``settle_s`` passes;
ids still missing then stay ``accepted`` with an error saying so.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pytest_openwhisk.client import ActivationLister, activation_pages
from pytest_openwhisk.errors import StartupTimeout
from pytest_openwhisk.samples import ACCEPTED_NO_RESULT, apply_record
from pytest_openwhisk.wait import wait_until
from pytest_openwhisk.workload.sendresult import SendResult

#: activations of the platform's own health checks (never part of a workload)
HEALTH_PREFIX = "invokerHealthTestAction"


@dataclass
class JoinReport:
    """How the join went: records fetched, samples completed from them, ids still missing."""

    fetched: int = 0
    joined: int = 0
    missing: list[str] = field(default_factory=list)
    unmatched: int = 0  # records in the window that no client request of this run produced
    pages: int = 0

    def to_json(self) -> dict[str, Any]:
        """JSON-ready summary (missing ids are listed, at most 20)."""
        return {
            "fetched": self.fetched,
            "joined": self.joined,
            "missing": len(self.missing),
            "missing_ids": self.missing[:20],
            "unmatched": self.unmatched,
            "pages": self.pages,
        }


def fetch_activations(
    source: ActivationLister, names: Iterable[str], since_ms: int, upto_ms: int, *, max_items: int = 1_000_000
) -> tuple[dict[str, dict[str, Any]], int]:
    """Every activation record of ``names`` started in ``[since_ms, upto_ms]``, by id; and the page count.

    Read with :func:`~pytest_openwhisk.client.activation_pages`; ``max_items`` bounds each name's loop.
    """
    records: dict[str, dict[str, Any]] = {}
    pages = 0
    for name in dict.fromkeys(names):
        for page in activation_pages(
            source, name, since=since_ms, upto=upto_ms, docs=True, max_items=max_items
        ):
            pages += 1
            for record in page:
                activation_id = record.get("activationId")
                if isinstance(activation_id, str) and not str(record.get("name", "")).startswith(
                    HEALTH_PREFIX
                ):
                    records[activation_id] = record
    return records, pages


def _query_name(action: str) -> str:
    """The ``name`` filter for an action path (``pkg/name`` or ``name``; namespace prefix dropped)."""
    parts = action.strip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) >= 3 else "/".join(parts)


def join_activations(
    result: SendResult, source: ActivationLister, *, settle_s: float = 30.0, margin_s: float = 30.0
) -> JoinReport:
    """Complete ``result``'s samples from their activation records (in place) and report the join.

    Samples that already carry a record (blocking invocations) are refreshed when the stored record is
    found. ``margin_s`` widens the time window for clock skew between client and controller.
    """
    by_id = {r.sample.activation_id: r.sample for r in result.records if r.sample.activation_id}
    waiting = {i for i, s in by_id.items() if s.status == ACCEPTED_NO_RESULT or s.duration_ms is None}
    names = [_query_name(a) for a in result.workload.actions]
    since_ms = int((result.started - margin_s) * 1000)
    report = JoinReport()
    state: dict[str, Any] = {"records": {}}

    def probe() -> bool:
        upto_ms = int((max(result.ended, time.time()) + margin_s) * 1000)
        records, pages = fetch_activations(source, names, since_ms, upto_ms)
        state["records"] = records
        report.pages += pages
        return waiting.issubset(records)

    if by_id:
        try:
            wait_until(probe, what="activation records of the workload", timeout=settle_s, interval=0.2)
        except StartupTimeout:
            pass  # missing ids are reported below
    records: dict[str, dict[str, Any]] = state["records"]
    report.fetched = len(records)
    for activation_id, sample in by_id.items():
        record = records.get(activation_id)
        if record is None:
            if activation_id in waiting:
                report.missing.append(activation_id)
                sample.error = f"activation record not found within {settle_s:g}s after the run"
            continue
        apply_record(sample, record)
        report.joined += 1
    report.unmatched = len(set(records) - set(by_id))
    return report
