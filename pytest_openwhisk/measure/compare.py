"""``--benchmark-compare`` against a run saved by this plugin: compare cluster fingerprints, not hosts.

pytest-benchmark checks ``machine_info`` against the compared run when it loads it, at configure time,
before any cluster runs. :func:`compare_machine_info` takes that check over for runs saved by this
plugin: it remembers the compared run's ``ow_fingerprint``, and :func:`check_compared` compares it with
the backend's once :func:`~pytest_openwhisk.measure.machine.remember_cluster` captured it, warning
(:class:`FingerprintWarning`) only about fields that really differ (the one fingerprint diff,
:func:`pytest_openwhisk.regress.fingerprint.diff`, volatile keys ignored, secrets masked).
"""

from __future__ import annotations

import json
import platform
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from pytest_benchmark.logger import PytestBenchmarkWarning

from pytest_openwhisk.measure.machine import CLUSTER_KEY, ClusterInfo, secrets_of
from pytest_openwhisk.measure.scrub import scrub
from pytest_openwhisk.regress.fingerprint import diff

#: compared runs saved by this plugin whose fingerprint awaits the backend's (see compare_machine_info)
COMPARED_KEY = pytest.StashKey[list["ComparedRun"]]()
#: the python keys of machine_info checked against a compared run besides ow_fingerprint
PYTHON_KEYS = ("python_implementation", "python_version")
#: a difference lists at most this many fields (then "... and N more")
MAX_DIFFERENCES = 20


class FingerprintWarning(PytestBenchmarkWarning):
    """The cluster (or Python) of this run differs from the run ``--benchmark-compare`` compares with."""


@dataclass(frozen=True)
class ComparedRun:
    """What :func:`check_compared` needs from a compared run saved by this plugin."""

    label: str
    machine_info: dict[str, Any]


def is_ours(machine_info: object) -> bool:
    """Whether a saved ``machine_info`` was written by this plugin (it has an ``ow_fingerprint`` dict)."""
    return isinstance(machine_info, Mapping) and isinstance(machine_info.get("ow_fingerprint"), Mapping)


@contextmanager
def compare_machine_info(
    config: pytest.Config, machine_info: dict[str, Any], compared_benchmark: dict[str, Any]
) -> Iterator[bool]:
    """Take pytest-benchmark's machine_info check over for a compared run saved by this plugin.

    For the plugin's ``pytest_benchmark_compare_machine_info`` wrapper, around pytest-benchmark's own
    implementation. That one runs at configure time, before the cluster is up, so it would always
    warn "Benchmark machine_info is different". When the compared run has an ``ow_fingerprint``, its
    machine_info is remembered for :func:`check_compared` and, while the wrapped implementations run,
    ``compared_benchmark["machine_info"]`` is the current one (restored afterwards), so pytest-benchmark
    finds nothing to warn about. A run not made by this plugin is left alone: pytest-benchmark compares
    the whole machine_info and warns as usual. Yields whether the check was taken over.
    """
    saved = compared_benchmark.get("machine_info")
    if not is_ours(saved):
        yield False
        return
    assert isinstance(saved, dict)
    label = str(compared_benchmark.get("datetime") or "unknown date")
    pending = config.stash.setdefault(COMPARED_KEY, [])
    pending.append(ComparedRun(label, dict(saved)))
    known = config.stash.get(CLUSTER_KEY, None)
    compared_benchmark["machine_info"] = machine_info
    try:
        yield True
    finally:
        compared_benchmark["machine_info"] = saved
    if known is not None:  # the backend already ran (not the case at configure time): check at once
        check_compared(config, known)


def fingerprint_message(
    config: pytest.Config, compared: ComparedRun, current: Mapping[str, Any]
) -> str | None:
    """The warning text for a compared run whose cluster or Python differs from ``current``; else None.

    ``current`` holds ``node``, ``ow_fingerprint`` and the :data:`PYTHON_KEYS`. One line per differing
    field, ``field: old -> new`` (dotted paths from machine_info, values of secret-like fields as
    ``***``), with every auth key known to the run masked.
    """
    keys = ("node", "ow_fingerprint", *PYTHON_KEYS)
    old = {key: compared.machine_info[key] for key in keys if key in compared.machine_info}
    new = {key: current[key] for key in keys if key in current}
    found = diff(old, new)
    if not found:
        return None
    lines = [f"  {difference}" for difference in found[:MAX_DIFFERENCES]]
    if len(found) > MAX_DIFFERENCES:
        lines.append(f"  ... and {len(found) - MAX_DIFFERENCES} more")
    text = (
        f"Benchmark cluster differs from the compared run ({compared.label}) in "
        f"{len(found)} field(s), so timings may not be comparable:\n" + "\n".join(lines)
    )
    return str(scrub(text, secrets_of(config)))


def check_compared(config: pytest.Config, cluster: ClusterInfo) -> list[str]:
    """Warn once per compared run whose fingerprint or Python differs from this run's; return the texts.

    Called once the backend's fingerprint is known (and by :func:`compare_machine_info` if it already
    was). Each pending compared run is checked only once.
    """
    pending = config.stash.get(COMPARED_KEY, [])
    if not pending:
        return []
    config.stash[COMPARED_KEY] = []
    current: dict[str, Any] = {
        "node": cluster.name,
        "ow_fingerprint": cluster.fingerprint,
        "python_implementation": platform.python_implementation(),
        "python_version": platform.python_version(),
    }
    current = json.loads(json.dumps(current, default=str))  # as it would be saved (tuples -> lists)
    messages = [m for m in (fingerprint_message(config, run, current) for run in pending) if m]
    for message in messages:
        warnings.warn(FingerprintWarning(message), stacklevel=2)
    return messages
