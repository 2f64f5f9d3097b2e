"""Open-loop workloads (FaaSProfiler compatible): describe, schedule, send, collect and analyze."""

from pytest_openwhisk.workload.analyzer import Analysis, analyze
from pytest_openwhisk.workload.faasprofiler import from_faasprofiler
from pytest_openwhisk.workload.files import load, load_faasprofiler
from pytest_openwhisk.workload.runner import WorkloadRunner
from pytest_openwhisk.workload.schedule import Schedule, build_schedule
from pytest_openwhisk.workload.sendconfig import SenderConfig
from pytest_openwhisk.workload.sender import OpenLoopSender
from pytest_openwhisk.workload.sendresult import SendResult
from pytest_openwhisk.workload.spec import Instance, Workload, WorkloadError

__all__ = [
    "Analysis",
    "Instance",
    "OpenLoopSender",
    "Schedule",
    "SendResult",
    "SenderConfig",
    "Workload",
    "WorkloadError",
    "WorkloadRunner",
    "analyze",
    "build_schedule",
    "from_faasprofiler",
    "load",
    "load_faasprofiler",
]
