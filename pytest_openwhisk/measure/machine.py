"""pytest-benchmark's ``machine_info`` describes the cluster, not the host running pytest; no secrets.

:func:`remember_cluster` captures the backend's name, fingerprint and auth key while it runs (session
fixtures are torn down before pytest-benchmark writes its JSON); :func:`update_machine_info` then puts
the fingerprint in ``machine_info`` and :func:`generate_machine_info` skips pytest-benchmark's slow host
CPU probe. :func:`secrets_of` lists the auth keys to mask for the run and :func:`scrub_json` masks them in
the whole document before it is written.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from pytest_openwhisk.measure.scrub import auth_words, scrub
from pytest_openwhisk.session import SESSION_KEY

if TYPE_CHECKING:
    from pytest_openwhisk.backends.base import Backend

#: the backend's name, fingerprint and secrets, captured while it runs
CLUSTER_KEY = pytest.StashKey["ClusterInfo"]()
#: machine_info keys that describe the host running pytest, not the cluster (dropped)
HOST_KEYS = ("processor", "machine", "release", "system", "cpu")


@dataclass(frozen=True)
class ClusterInfo:
    """What the saved JSON needs from the backend after it stopped (``auth`` only to mask it)."""

    name: str
    fingerprint: dict[str, Any]
    auth: str = field(default="", repr=False)


def remember_cluster(config: pytest.Config, backend: Backend) -> ClusterInfo:
    """Capture the backend's name, fingerprint and auth once per session (for ``machine_info``).

    The fingerprint is kept with the auth key masked. Compared runs waiting for it are checked by
    :func:`pytest_openwhisk.measure.compare.check_compared`.
    """
    known = config.stash.get(CLUSTER_KEY, None)
    if known is not None:
        return known
    fingerprint = scrub(backend.fingerprint(), auth_words([backend.auth]))
    session = config.stash.get(SESSION_KEY, None)
    profile = getattr(session.settings, "profile", None) if session is not None else None
    if profile is not None:  # --ow-profile (pytest_openwhisk.profiles) is part of what was measured
        fingerprint["profile"] = profile.fingerprint()
    info = ClusterInfo(backend.name or "unknown", fingerprint, backend.auth or "")
    config.stash[CLUSTER_KEY] = info
    return info


def secrets_of(config: pytest.Config) -> list[str]:
    """The auth keys known to this run (settings, running backend, remembered cluster) to mask."""
    session = config.stash.get(SESSION_KEY, None)
    known = config.stash.get(CLUSTER_KEY, None)
    auths: list[object] = [known.auth if known else None]
    if session is not None:
        auths += [session.backend.auth if session.backend is not None else None, session.settings.auth]
    return auth_words(auths)


def scrub_json(config: pytest.Config, output_json: dict[str, Any]) -> None:
    """Mask every auth key in a pytest-benchmark JSON document before it is written (in place).

    For the plugin's ``pytest_benchmark_update_json`` hook: a last line of defence over the whole
    document (machine_info, commit_info, extra_info, params).
    """
    secrets = secrets_of(config)
    if secrets:
        cleaned = scrub(output_json, secrets)
        output_json.clear()
        output_json.update(cleaned)


def generate_machine_info(config: pytest.Config) -> dict[str, Any]:
    """pytest-benchmark's machine_info without the host probe (``py-cpuinfo`` takes ~1.5 s per save).

    Only the ``python_*`` keys and ``node``; :func:`update_machine_info` then adds the cluster.
    """
    return {
        "node": platform.node(),
        "python_compiler": platform.python_compiler(),
        "python_implementation": platform.python_implementation(),
        "python_implementation_version": platform.python_version(),
        "python_version": platform.python_version(),
        "python_build": list(platform.python_build()),
    }


def update_machine_info(config: pytest.Config, machine_info: dict[str, Any]) -> None:
    """Replace the host view in ``machine_info`` with the cluster's fingerprint (in place).

    Host keys (``processor``, ``machine``, ``release``, ``system``, ``cpu``) are dropped, ``python_*``
    keys stay, ``node`` becomes the backend name and ``ow_fingerprint`` holds ``backend.fingerprint()``
    (captured by :func:`remember_cluster` while the backend ran) with any auth key masked. Before any
    backend ran (pytest-benchmark computes machine_info for ``--benchmark-compare`` at configure
    time) only ``node`` is set, from ``--ow-cluster``.
    """
    for key in HOST_KEYS:
        machine_info.pop(key, None)
    known = config.stash.get(CLUSTER_KEY, None)
    session = config.stash.get(SESSION_KEY, None)
    if known is None and session is not None and session.backend is not None:
        known = remember_cluster(config, session.backend)
    if known is not None:
        machine_info["node"] = known.name
        machine_info["ow_fingerprint"] = scrub(known.fingerprint, secrets_of(config))
    elif session is not None:
        machine_info["node"] = session.settings.cluster
