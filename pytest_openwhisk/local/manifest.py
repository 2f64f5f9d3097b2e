"""Runtime kinds of the embedded OpenWhisk and the ``runtimes`` manifest served by ``GET /``.

Every Python kind runs on the host interpreter (``sys.executable``) and every Node.js kind on the
host ``node``; the manifest says so in each entry's ``image`` (prefix ``local``) and in an extra
``interpreter`` field, so benchmark results never pretend to use the official images.
"""

from __future__ import annotations

import shutil
import sys
from typing import Any

PYTHON_DEFAULT = "python:3.11"
NODEJS_DEFAULT = "nodejs:20"

#: accepted kinds (after resolving ``<family>:default``), python first
PYTHON_KINDS: tuple[str, ...] = ("python:3", "python:3.10", "python:3.11", "python:3.12")
NODEJS_KINDS: tuple[str, ...] = ("nodejs:18", "nodejs:20")
KINDS: tuple[str, ...] = PYTHON_KINDS + NODEJS_KINDS

_ALIASES = {"python:default": PYTHON_DEFAULT, "nodejs:default": NODEJS_DEFAULT}


def family(kind: str) -> str:
    """The runtime family of a resolved kind: ``"python"`` or ``"nodejs"``."""
    return resolve_kind(kind).split(":", 1)[0]


def offered(allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """All of :data:`KINDS`, or only those in ``allowed`` (``LocalConfig.kinds``), in KINDS order."""
    if allowed is None:
        return KINDS
    return tuple(k for k in KINDS if k in allowed)


def check_allowed(allowed: tuple[str, ...] | None) -> None:
    """Refuse a ``LocalConfig.kinds`` value naming a kind this platform does not have."""
    if allowed is None:
        return
    unknown = [k for k in allowed if k not in KINDS]
    if unknown or not allowed:
        what = f"unknown kind(s) {', '.join(repr(k) for k in unknown)}" if unknown else "no kind"
        raise ValueError(
            f"LocalConfig.kinds names {what}; use None (every kind) or a tuple of: {', '.join(KINDS)}"
        )


def _default_of(fam: str, kinds: tuple[str, ...]) -> str | None:
    """The family's default kind among ``kinds`` (the manifest default, else the first offered one)."""
    preferred = _ALIASES[f"{fam}:default"]
    if preferred in kinds:
        return preferred
    return next((k for k in kinds if k.split(":", 1)[0] == fam), None)


def resolve_kind(kind: str, allowed: tuple[str, ...] | None = None) -> str:
    """Map a requested kind to the kind stored on the action (``python:default`` -> ``python:3.11``).

    Raises ``ValueError`` with OpenWhisk's own message for kinds this platform cannot run
    (``blackbox``, typos, kinds left out of ``allowed``...).
    """
    kinds = offered(allowed)
    if kind in kinds:
        return kind
    if kind in _ALIASES:
        resolved = _default_of(kind.split(":", 1)[0], kinds)
        if resolved is not None:
            return resolved
    aliases = [a for a in _ALIASES if _default_of(a.split(":", 1)[0], kinds) is not None]
    valid = ", ".join((*kinds, *aliases))
    raise ValueError(
        f"The specified runtime '{kind}' is not supported by this platform. Valid values are: {valid}."
    )


def interpreter(kind: str) -> list[str]:
    """The command that runs the runtime proxy of ``kind`` (without the proxy script)."""
    if family(kind) == "python":
        return [sys.executable]
    return [shutil.which("node") or "node"]


def _python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}"


def _entry(kind: str, default: bool) -> dict[str, Any]:
    fam, version = kind.split(":", 1)
    if fam == "python":
        image = {"prefix": "local", "name": f"python3-host-{_python_version()}", "tag": "latest"}
        runs_on = f"host python {_python_version()} ({sys.executable})"
    else:
        node = shutil.which("node")
        image = {"prefix": "local", "name": f"nodejs-host-v{version}", "tag": "latest"}
        runs_on = f"host node ({node})" if node else "host node (not installed: run bash .ci/setup)"
    entry: dict[str, Any] = {
        "kind": kind,
        "image": image,
        "default": default,
        "deprecated": False,
        "sentinelledLogs": True,
        "requireMain": False,
        "interpreter": runs_on,
    }
    if kind == NODEJS_DEFAULT:
        entry["stemCells"] = [{"initialCount": 2, "memory": "256 MB"}]
    return entry


def manifest_json(allowed: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The ``runtimes`` object of ``GET /``: family -> list of kind entries in OpenWhisk's shape."""
    kinds = offered(allowed)
    out: dict[str, Any] = {}
    for fam in ("nodejs", "python"):
        default = _default_of(fam, kinds)
        entries = [_entry(k, k == default) for k in kinds if k.split(":", 1)[0] == fam]
        if entries:
            out[fam] = entries
    return out
