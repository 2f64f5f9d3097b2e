"""Value syntax shared by every front end: the plugin, the regression gate, ``serve`` and the CLI.

Each ``parse_*`` takes the text a user typed and returns the value, or raises :class:`InvalidValue`
naming the value, what is allowed and an example. :class:`InvalidValue` is both an
``argparse.ArgumentTypeError`` (so every parser is an argparse ``type=``) and a ``ValueError``.
This module imports only the standard library and the embedded server's config (for
:class:`~pytest_openwhisk.local.config.StemCell`), so ``serve`` can use it without pytest.

Durations have one grammar everywhere: a number (``1``, ``1.5``, ``.5``) and a unit ``ms``, ``s``,
``m`` or ``h``: ``500ms``, ``.5s``, ``1.5s``, ``2m``, ``1h``. A bare number is refused (``250`` could
mean seconds or milliseconds).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable

from pytest_openwhisk.local.config import StemCell

#: where OpenWhisk runs (``--ow-cluster``)
CLUSTERS = ("local", "kind", "existing")
#: where the embedded server runs (``--ow-local-mode``)
LOCAL_MODES = ("process", "thread")
#: sandbox of local runtimes (``--ow-isolation``, ``serve --isolation``)
ISOLATIONS = ("auto", "bwrap", "none")
#: memory of a prewarmed stem cell when the entry does not give one (MB)
DEFAULT_STEM_CELL_MB = 256
#: smallest memory a pool may have (the smallest action, MB)
MIN_POOL_MB = 128

_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
_DURATION = re.compile(rf"^\s*{_NUMBER}\s*(ms|s|m|h)\s*$")
_SECONDS_PER_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_MEMORY = re.compile(r"^\s*(\d+)\s*(mb|m|gb|g)?\s*$", re.IGNORECASE)
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class InvalidValue(argparse.ArgumentTypeError, ValueError):
    """A value with the wrong syntax; the message names it, what is allowed and an example."""


def parse_duration(text: str) -> float:
    """A duration in seconds: ``"500ms"`` -> 0.5, ``".5s"`` -> 0.5, ``"2m"`` -> 120.0, ``"1h"`` -> 3600.0."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidValue(
            f"invalid duration {text!r}; use a number with a unit ms, s, m or h, "
            "e.g. 500ms, .5s, 1.5s, 2m, 1h"
        )
    return float(match.group(1)) * _SECONDS_PER_UNIT[match.group(2)]


def format_duration(seconds: float) -> str:
    """The shortest exact spelling of a duration: 600.0 -> ``"10m"``, 0.25 -> ``"250ms"``."""
    for unit, size in (("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if seconds >= size and (seconds / size).is_integer():
            return f"{int(seconds / size)}{unit}"
    return f"{seconds * 1000:g}ms"


def parse_memory(text: str) -> int:
    """Megabytes: ``"2048"``, ``"2048MB"``, ``"512m"`` or ``"4g"`` -> int MB (at least 128)."""
    match = _MEMORY.match(text)
    if not match:
        raise InvalidValue(f"invalid memory size {text!r}; use megabytes, e.g. 2048, 512m or 4g")
    megabytes = int(match.group(1)) * (1024 if (match.group(2) or "").lower().startswith("g") else 1)
    if megabytes < MIN_POOL_MB:
        raise InvalidValue(
            f"memory size {text!r} is below the smallest action ({MIN_POOL_MB} MB); use e.g. 2048"
        )
    return megabytes


def parse_bool(text: str) -> bool:
    """A switch: ``on/off``, ``true/false``, ``yes/no``, ``1/0`` (any case)."""
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InvalidValue(f"invalid switch {text!r}; use on or off (or true/false, yes/no, 1/0)")


def parse_prewarm(text: str) -> tuple[StemCell, ...]:
    """Stem cells ``kind:count[:memoryMB]`` separated by commas (``"python:3:1,nodejs:20:2"``), or ``none``.

    Kinds are checked against the runtimes by whoever starts them (``manifest.resolve_kind``).
    """
    if text.strip().lower() == "none":
        return ()
    cells: list[StemCell] = []
    for item in text.split(","):
        parts = item.strip().split(":")
        if len(parts) not in (3, 4) or not all(parts) or not all(p.isdigit() for p in parts[2:]):
            raise InvalidValue(
                f"invalid prewarm entry {item.strip()!r}; use kind:count[:memoryMB] separated by commas, "
                "e.g. python:3:1,nodejs:20:2, or none"
            )
        memory = int(parts[3]) if len(parts) == 4 else DEFAULT_STEM_CELL_MB
        if memory < 1:
            raise InvalidValue(f"invalid prewarm entry {item.strip()!r}; memoryMB must be >= 1, e.g. 256")
        cells.append(StemCell(kind=f"{parts[0]}:{parts[1]}", count=int(parts[2]), memory_mb=memory))
    return tuple(cells)


def format_prewarm(cells: tuple[StemCell, ...]) -> str:
    """Inverse of :func:`parse_prewarm` (``"none"`` for no stem cells)."""
    if not cells:
        return "none"
    return ",".join(
        f"{c.kind}:{c.count}" + (f":{c.memory_mb}" if c.memory_mb != DEFAULT_STEM_CELL_MB else "")
        for c in cells
    )


def choice(what: str, allowed: tuple[str, ...]) -> Callable[[str], str]:
    """A parser accepting exactly one of ``allowed`` (``choice("isolation", ISOLATIONS)``)."""

    def parse(text: str) -> str:
        if text not in allowed:
            raise InvalidValue(f"invalid {what} {text!r}; choose from {', '.join(allowed)}")
        return text

    parse.__name__ = what.replace("-", "_")
    return parse


def parse_int(what: str, minimum: int = 0, maximum: int | None = None) -> Callable[[str], int]:
    """A parser of whole numbers in ``[minimum, maximum]`` (``parse_int("port", 0, 65535)``)."""
    bounds = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            value = None
        if value is None or value < minimum or (maximum is not None and value > maximum):
            raise InvalidValue(f"invalid {what} {text!r}; use a whole number {bounds}")
        return value

    parse.__name__ = what.replace("-", "_").replace(" ", "_")
    return parse


def text(value: str) -> str:
    """Any text, unchanged (the parser of free-form options)."""
    return value
