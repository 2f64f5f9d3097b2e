"""Workload files: read a JSON workload from disk, ours or FaaSProfiler's.

The two formats are parsed by :func:`pytest_openwhisk.workload.spec.from_json` and
:func:`pytest_openwhisk.workload.faasprofiler.from_faasprofiler`; this module only reads files and
picks the parser, so neither parser imports the other.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytest_openwhisk.workload.faasprofiler import from_faasprofiler
from pytest_openwhisk.workload.spec import Workload, WorkloadError, from_json

#: the key only FaaSProfiler's format has (how :func:`load` tells the formats apart)
FAASPROFILER_KEY = "test_duration_in_seconds"


def read_json(path: str | Path, what: str = "workload file") -> tuple[Any, Path]:
    """The parsed JSON of ``path`` and its folder; :class:`WorkloadError` naming the file and the fix."""
    source = Path(path)
    try:
        return json.loads(source.read_text()), source.parent
    except FileNotFoundError:
        raise WorkloadError(f"{what} {str(source)!r} does not exist; check the path") from None
    except ValueError as exc:
        raise WorkloadError(f"{what} {str(source)!r} is not valid JSON: {exc}; fix the syntax") from exc


def load(path: str | Path) -> Workload:
    """Read a workload file: our JSON form, or FaaSProfiler's (detected by ``test_duration_in_seconds``)."""
    data, base_dir = read_json(path)
    if isinstance(data, dict) and FAASPROFILER_KEY in data:
        return from_faasprofiler(data, base_dir=base_dir)
    return from_json(data, base_dir=base_dir)


def load_faasprofiler(path: str | Path) -> Workload:
    """Read a FaaSProfiler workload file from ``path`` (relative files resolve against its folder)."""
    data, base_dir = read_json(path, "FaaSProfiler config")
    return from_faasprofiler(data, base_dir=base_dir)
