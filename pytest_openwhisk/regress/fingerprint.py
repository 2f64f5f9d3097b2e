"""Compare like with like: differences between two ``machine_info.ow_fingerprint`` objects.

The one fingerprint diff of the project: the regression gate, ``pytest-openwhisk compare`` and the
``--benchmark-compare`` warning (:mod:`pytest_openwhisk.measure.compare`) all use :func:`diff`.
Fingerprints are flattened to dotted keys (``limits.memory_mb_max``); tuples equal lists (a saved file
holds lists). Keys that change on every run without changing what is measured (ports, pids, start
times) are ignored by default. Values of secret-looking fields print as ``***``, long values shortened.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: last key components ignored by default: they vary between identical runs
VOLATILE_KEYS = frozenset(
    {
        "apihost",
        "port",
        "pid",
        "started",
        "start_time",
        "timestamp",
        "datetime",
        "auth",
        "uptime",
        "uptime_s",
        "workdir",
        "tmpdir",
    }
)
#: field names whose values are never printed in a difference (auth keys, tokens, passwords, ...)
SECRET_FIELD = re.compile(r"auth|key|token|secret|passw|credential|cert", re.IGNORECASE)
#: a printed value longer than this is shortened with "..."
MAX_VALUE_CHARS = 80
MASK = "***"


class FingerprintMismatch(Exception):
    """The baseline and current runs were measured on different setups."""

    def __init__(self, differences: list[Difference], base_label: str, current_label: str) -> None:
        self.differences = differences
        lines = "\n".join(f"  {d}" for d in differences)
        super().__init__(
            f"refusing to compare {base_label} with {current_label}: the OpenWhisk fingerprints differ "
            f"(old -> new):\n{lines}\nMeasure both runs on the same setup, or pass "
            f"--ow-regression-allow-fingerprint-mismatch (pytest) / --allow-fingerprint-mismatch "
            f"(pytest-openwhisk compare) to compare anyway with a warning."
        )


@dataclass(frozen=True)
class Difference:
    """One fingerprint field that differs."""

    key: str
    old: Any
    new: Any

    def __str__(self) -> str:
        return f"{self.key}: {show(self.key, self.old)} -> {show(self.key, self.new)}"


#: the value of a key present on one side only
MISSING: Any = object()


def show(key: str, value: Any) -> str:
    """A value as a difference prints it: compact JSON, ``***`` for secret-looking fields, shortened."""
    if value is MISSING:
        return "(absent)"
    if SECRET_FIELD.search(key.rpartition(".")[2]):
        return MASK
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 3] + "..."


def flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as ``{"a.b.c": leaf}``; lists stay leaves (tuples become lists)."""
    flat: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, Mapping) and item:
            flat.update(flatten(item, name + "."))
        else:
            flat[name] = json.loads(json.dumps(item, default=str)) if isinstance(item, tuple | list) else item
    return flat


def _ignored(key: str, ignore: frozenset[str]) -> bool:
    last = key.rsplit(".", 1)[-1]
    return key in ignore or last in ignore


def diff(
    old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, ignore: Iterable[str] = VOLATILE_KEYS
) -> list[Difference]:
    """Fields that differ between two fingerprints, sorted by key (absent fingerprints compare as empty).

    A key in ``ignore`` matches the full dotted key or its last component.
    """
    ignored = frozenset(ignore)
    if old is None and new is None:
        return []
    if old is None or new is None:
        return [
            Difference(
                "ow_fingerprint",
                MISSING if old is None else "(present)",
                MISSING if new is None else "(present)",
            )
        ]
    a, b = flatten(old), flatten(new)
    out = []
    for key in sorted(set(a) | set(b)):
        if _ignored(key, ignored):
            continue
        va, vb = a.get(key, MISSING), b.get(key, MISSING)
        if va != vb:
            out.append(Difference(key, va, vb))
    return out
