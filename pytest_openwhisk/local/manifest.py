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


def resolve_kind(kind: str) -> str:
    """Map a requested kind to the kind stored on the action (``python:default`` -> ``python:3.11``).

    Raises ``ValueError`` with OpenWhisk's own message for kinds this platform cannot run
    (``blackbox``, ``java:8``, typos...).
    """
    if kind in KINDS:
        return kind
    if kind in _ALIASES:
        return _ALIASES[kind]
    valid = ", ".join((*KINDS, *_ALIASES))
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


def manifest_json() -> dict[str, Any]:
    """The ``runtimes`` object of ``GET /``: family -> list of kind entries in OpenWhisk's shape."""
    return {
        "nodejs": [_entry(k, k == NODEJS_DEFAULT) for k in NODEJS_KINDS],
        "python": [_entry(k, k == PYTHON_DEFAULT) for k in PYTHON_KINDS],
    }
