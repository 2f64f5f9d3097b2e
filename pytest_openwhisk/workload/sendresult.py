"""What the open-loop sender reports: live counters while it runs, then one record per scheduled request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pytest_openwhisk.samples import Sample
from pytest_openwhisk.workload.schedule import Arrival, Schedule
from pytest_openwhisk.workload.sendconfig import SenderConfig
from pytest_openwhisk.workload.spec import Workload


@dataclass
class Counters:
    """Live counters, written by the sender thread and read by the progress display."""

    scheduled: int = 0
    sent: int = 0
    completed: int = 0
    failed: int = 0
    dropped: int = 0
    in_flight: int = 0
    elapsed_s: float = 0.0
    duration_s: float = 0.0


@dataclass
class Record:
    """One scheduled request and its outcome."""

    arrival: Arrival
    sample: Sample

    @property
    def instance(self) -> str:
        """Name of the instance that scheduled this request."""
        return self.arrival.instance


@dataclass
class SendResult:
    """Everything the sender observed (records in schedule order)."""

    workload: Workload
    schedule: Schedule
    records: list[Record]
    started: float  # epoch s of schedule t=0
    ended: float  # epoch s when the sender stopped
    interrupted: bool = False
    config: SenderConfig = field(default_factory=SenderConfig)
    #: how the sender ran: own process or not, timer, scheduling policy/nice/autogroup/cpus it obtained
    scheduling: dict[str, Any] = field(default_factory=dict)

    @property
    def samples(self) -> list[Sample]:
        """The samples, in schedule order."""
        return [r.sample for r in self.records]
