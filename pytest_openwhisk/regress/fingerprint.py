"""Compare like with like: differences between two ``machine_info.ow_fingerprint`` objects.

Fingerprints are flattened to dotted keys (``limits.memory_mb_max``). Keys that change on every run
without changing what is measured (ports, pids, start times) are ignored by default.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: last key components ignored by default: they vary between identical runs
VOLATILE_KEYS = frozenset({"apihost", "port", "pid", "started", "start_time", "timestamp", "datetime",
                           "auth", "uptime", "uptime_s", "workdir", "tmpdir"})


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
        return f"{self.key}: {_show(self.old)} -> {_show(self.new)}"


_MISSING = object()


def _show(value: Any) -> str:
    if value is _MISSING:
        return "(absent)"
    return json.dumps(value, sort_keys=True, default=str)


def flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as ``{"a.b.c": leaf}``; lists stay leaves."""
    flat: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, Mapping) and item:
            flat.update(flatten(item, name + "."))
        else:
            flat[name] = item
    return flat


def _ignored(key: str, ignore: frozenset[str]) -> bool:
    last = key.rsplit(".", 1)[-1]
    return key in ignore or last in ignore


def diff(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None,
         ignore: Iterable[str] = VOLATILE_KEYS) -> list[Difference]:
    """Fields that differ between two fingerprints, sorted by key (absent fingerprints compare as empty).

    A key in ``ignore`` matches the full dotted key or its last component.
    """
    ignored = frozenset(ignore)
    if old is None and new is None:
        return []
    if old is None or new is None:
        return [Difference("ow_fingerprint", _MISSING if old is None else "(present)",
                           _MISSING if new is None else "(present)")]
    a, b = flatten(old), flatten(new)
    out = []
    for key in sorted(set(a) | set(b)):
        if _ignored(key, ignored):
            continue
        va, vb = a.get(key, _MISSING), b.get(key, _MISSING)
        if va != vb:
            out.append(Difference(key, va, vb))
    return out
