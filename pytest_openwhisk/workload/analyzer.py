"""Statistics of a workload run, per function and per instance, and the per-invocation table.

Input: the sender's records after :func:`~pytest_openwhisk.workload.collect.join_activations`.
Definitions (FaaSProfiler's where it had one; docs/workload.md "Analysis and files"):

- cold = ``initTime`` present; ``execution = duration − initTime``; ``server latency = duration + waitTime``;
- client latency = response received − request sent; latency from intended = received − intended send
  time (what a user of an open system sees; immune to coordinated omission); completion = intended send
  time to the response, or to the activation end for non-blocking (202) requests;
- send lag = actual − intended send time; achieved rate = (n − 1) / (last send − first send) over the
  requests actually sent, against the target rate (configured, or the trace's own rate);
- activation throughput = completed activations / (last end − first start) (FaaSProfiler,
  :func:`~pytest_openwhisk.stats.activation_throughput_rps`), ``rel_stress`` = target / that throughput,
  capacity factor = p90 − p10 of server latency;
- cost per function: ``cpu_ms``, ``memory_mb``, ``energy_j`` distributions of the activations that
  carried them (:func:`~pytest_openwhisk.stats.cost`);
- errors are counted by class (activation status, ``HTTP <code>``, ``dropped``, ``client error``).
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_openwhisk.measure.report import describe_energy
from pytest_openwhisk.samples import Sample
from pytest_openwhisk.stats import activation_throughput_rps, cost, distribution, percentile, server_ms
from pytest_openwhisk.workload.collect import JoinReport
from pytest_openwhisk.workload.records import DROPPED, error_class
from pytest_openwhisk.workload.sendresult import Record, SendResult
from pytest_openwhisk.workload.spec import Instance, Workload

CSV_COLUMNS = (
    "seq",
    "instance",
    "action",
    "intended",
    "sent",
    "received",
    "send_lag_ms",
    "latency_ms",
    "latency_from_intended_ms",
    "completion_ms",
    "http_status",
    "status",
    "error_class",
    "activation_id",
    "start_ms",
    "end_ms",
    "duration_ms",
    "wait_ms",
    "init_ms",
    "execution_ms",
    "server_ms",
    "cold",
    "error",
)


def execution_ms(sample: Sample) -> float | None:
    """Activation duration minus initTime (run time without the cold-start init)."""
    if sample.duration_ms is None:
        return None
    return sample.duration_ms - (sample.init_ms or 0.0)


def completion_ms(sample: Sample) -> float | None:
    """Intended send time to completion: the response (blocking) or the activation end (non-blocking).

    A non-blocking request is answered at once with 202; its invocation completes at the record's
    ``end`` (controller clock: exact on the local backend, subject to clock skew on remote clusters).
    """
    if sample.intended is None:
        return None
    if sample.http_status == 202 and sample.end_ms is not None:
        return sample.end_ms - sample.intended * 1000.0
    if sample.http_status:
        return (sample.received - sample.intended) * 1000.0
    return None


def send_lag_ms(sample: Sample) -> float | None:
    """Actual minus intended send time (None for dropped requests, which were never sent)."""
    if sample.intended is None or sample.status == DROPPED:
        return None
    return (sample.sent - sample.intended) * 1000.0


def _values(samples: Iterable[Sample], getter: Any) -> list[float]:
    return [float(v) for v in (getter(s) for s in samples) if v is not None]


def _by_temperature(samples: Sequence[Sample], getter: Any) -> dict[str, Any]:
    with_record = [s for s in samples if s.duration_ms is not None]
    return {
        "all": distribution(_values(with_record, getter)),
        "warm": distribution(_values([s for s in with_record if not s.cold], getter)),
        "cold": distribution(_values([s for s in with_record if s.cold], getter)),
    }


def _by_temperature_any(samples: Sequence[Sample], getter: Any) -> dict[str, Any]:
    return {
        "all": distribution(_values(samples, getter)),
        "warm": distribution(_values([s for s in samples if not s.cold], getter)),
        "cold": distribution(_values([s for s in samples if s.cold], getter)),
    }


def achieved_rate(samples: Sequence[Sample]) -> float | None:
    """Requests per second actually sent: (n − 1) / (last send − first send)."""
    sent = sorted(s.sent for s in samples if s.status != DROPPED)
    if len(sent) < 2 or sent[-1] <= sent[0]:
        return None
    return (len(sent) - 1) / (sent[-1] - sent[0])


def target_rate(instances: Sequence[Instance], workload: Workload) -> float | None:
    """Configured rate summed over ``instances``; a trace counts as its own mean rate."""
    total = 0.0
    for inst in instances:
        if inst.distribution == "trace":
            start, end = inst.bounds(workload.duration_s)
            span = min(sum(inst.interarrivals), end - start)
            total += len(inst.interarrivals) / span if span > 0 else 0.0
        else:
            total += inst.rate
    return total or None


def summarize_group(samples: Sequence[Sample], target: float | None, started: float) -> dict[str, Any]:
    """Every statistic of one function (or instance) as a JSON-ready dict."""
    count = len(samples)
    classes = Counter(c for c in (error_class(s) for s in samples) if c is not None)
    errors = sum(classes.values())
    ok = [s for s in samples if s.ok]
    responded = [s for s in samples if s.http_status]
    with_record = [s for s in samples if s.start_ms is not None and s.end_ms is not None]
    cold = sum(1 for s in with_record if s.cold)
    throughput = activation_throughput_rps(with_record)
    server = _values(with_record, server_ms)
    achieved = achieved_rate(samples)
    lags = [abs(v) for v in _values(samples, send_lag_ms)]
    return {
        "count": count,
        "ok": len(ok),
        "errors": errors,
        "error_rate": errors / count if count else None,
        "errors_by_class": dict(sorted(classes.items())),
        "dropped": sum(1 for s in samples if s.status == DROPPED),
        "target_rps": target,
        "achieved_rps": achieved,
        "achieved_vs_target": achieved / target if achieved and target else None,
        "activation_throughput_rps": throughput,
        "rel_stress": target / throughput if target and throughput else None,
        "send_lag_abs_ms": distribution(lags),
        "latency_ms": distribution(_values(responded, lambda s: s.latency_ms)),
        "latency_from_intended_ms": distribution(_values(responded, lambda s: s.latency_from_intended_ms)),
        "completion_ms": _by_temperature_any(samples, completion_ms),
        "client_latency_ms": _by_temperature(responded, lambda s: s.latency_ms),
        "execution_ms": _by_temperature(samples, execution_ms),
        "server_latency_ms": _by_temperature(samples, server_ms),
        "init_ms": distribution(_values([s for s in with_record if s.cold], lambda s: s.init_ms)),
        "wait_ms": distribution(_values(with_record, lambda s: s.wait_ms)),
        "cold_count": cold,
        "cold_ratio": cold / len(with_record) if with_record else None,
        "capacity_factor_ms": (percentile(server, 90) or 0.0) - (percentile(server, 10) or 0.0)
        if server
        else None,
        "cost": cost(with_record),
        "timeline": timeline(samples, started),
    }


def timeline(samples: Sequence[Sample], started: float, bucket_s: float = 1.0) -> list[dict[str, Any]]:
    """Per ``bucket_s`` of intended send time: sent, ok, errors, dropped, cold and p50/p99 latency."""
    buckets: dict[int, list[Sample]] = {}
    for s in samples:
        at = s.intended if s.intended is not None else s.sent
        buckets.setdefault(int(max(0.0, at - started) // bucket_s), []).append(s)
    rows = []
    for index in sorted(buckets):
        group = buckets[index]
        lat = _values(group, completion_ms)
        rows.append(
            {
                "t_s": index * bucket_s,
                "scheduled": len(group),
                "sent": sum(1 for s in group if s.status != DROPPED),
                "ok": sum(1 for s in group if s.ok),
                "errors": sum(1 for s in group if error_class(s) is not None),
                "dropped": sum(1 for s in group if s.status == DROPPED),
                "cold": sum(1 for s in group if s.cold),
                "p50_ms": percentile(lat, 50),
                "p99_ms": percentile(lat, 99),
            }
        )
    return rows


@dataclass
class Analysis:
    """The result of a workload: per-function and per-instance statistics plus the raw records."""

    workload: Workload
    records: list[Record]
    started: float
    ended: float
    functions: dict[str, dict[str, Any]]
    instances: dict[str, dict[str, Any]]
    join: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False
    names: dict[str, str] = field(default_factory=dict)  # deployed action name -> the name the user gave
    energy: dict[str, Any] | None = None  # the backend fingerprint's energy entry (None: not known)
    sender: dict[str, Any] = field(default_factory=dict)  # how the sender ran (SendResult.scheduling)

    def name_of(self, action: str) -> str:
        """The name the user gave ``action`` (``ow_action("echo", ...)`` -> ``echo``); else ``action``."""
        return self.names.get(action, action)

    def samples(self, action: str | None = None) -> list[Sample]:
        """The samples of one action (all when None), in schedule order."""
        return [r.sample for r in self.records if action is None or r.sample.action == action]

    def to_json(self) -> dict[str, Any]:
        """Summary document (no raw samples, no secrets)."""
        return {
            "workload": self.workload.to_json(),
            "started": self.started,
            "ended": self.ended,
            "interrupted": self.interrupted,
            "scheduled": len(self.records),
            "join": self.join,
            "functions": self.functions,
            "instances": self.instances,
            "energy": describe_energy(self.energy),
            "sender": self.sender,
        }

    def rows(self) -> list[dict[str, Any]]:
        """The per-invocation table (one dict per scheduled request, :data:`CSV_COLUMNS`)."""
        out = []
        for record in self.records:
            s = record.sample
            out.append(
                {
                    "seq": record.arrival.seq,
                    "instance": record.instance,
                    "action": s.action,
                    "intended": s.intended,
                    "sent": s.sent,
                    "received": s.received,
                    "send_lag_ms": send_lag_ms(s),
                    "latency_ms": s.latency_ms,
                    "latency_from_intended_ms": s.latency_from_intended_ms,
                    "completion_ms": completion_ms(s),
                    "http_status": s.http_status,
                    "status": s.status,
                    "error_class": error_class(s),
                    "activation_id": s.activation_id,
                    "start_ms": s.start_ms,
                    "end_ms": s.end_ms,
                    "duration_ms": s.duration_ms,
                    "wait_ms": s.wait_ms,
                    "init_ms": s.init_ms,
                    "execution_ms": execution_ms(s),
                    "server_ms": server_ms(s),
                    "cold": int(s.cold),
                    "error": s.error,
                }
            )
        return out

    def write(self, directory: str | Path) -> dict[str, Path]:
        """Write ``invocations.csv`` (+ ``.parquet`` with pyarrow), ``summary.json`` and the schedule."""
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        rows = self.rows()
        paths = {
            "csv": target / "invocations.csv",
            "summary": target / "summary.json",
            "workload": target / "workload.json",
        }
        with paths["csv"].open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        paths["summary"].write_text(json.dumps(self.to_json(), indent=2, default=str) + "\n")
        self.workload.dump(paths["workload"])
        try:
            import pyarrow as pa  # optional
            import pyarrow.parquet as pq
        except ImportError:
            pass
        else:
            paths["parquet"] = target / "invocations.parquet"
            pq.write_table(pa.Table.from_pylist(rows), paths["parquet"])
        return paths


def analyze(
    result: SendResult, join: JoinReport | None = None, names: Mapping[str, str] | None = None
) -> Analysis:
    """Per-function and per-instance statistics of a (joined) send result.

    ``names`` maps deployed action names to the names the user gave (used to label plots and reports;
    each function's statistics carry it as ``name``).
    """
    workload = result.workload
    functions: dict[str, dict[str, Any]] = {}
    for action in workload.actions:
        insts = [i for i in workload.instances if i.action == action]
        instance_names = {i.name for i in insts}
        group = [r.sample for r in result.records if r.instance in instance_names]
        functions[action] = summarize_group(group, target_rate(insts, workload), result.started)
        functions[action]["name"] = (names or {}).get(action, action)
    instances = {}
    for inst in workload.instances:
        group = [r.sample for r in result.records if r.instance == inst.name]
        instances[inst.name] = summarize_group(group, target_rate([inst], workload), result.started)
        instances[inst.name]["action"] = inst.action
    return Analysis(
        workload=workload,
        records=result.records,
        started=result.started,
        ended=result.ended,
        functions=functions,
        instances=instances,
        join=join.to_json() if join else {},
        interrupted=result.interrupted,
        names=dict(names or {}),
        sender=dict(result.scheduling),
    )
