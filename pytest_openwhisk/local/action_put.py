"""Validation of ``PUT …/actions/{name}`` bodies (``WhiskActionPut``, ``Exec``, ``ActionLimits``).

A kind resolves through the runtimes manifest (blackbox is refused), sequence components become fully
qualified paths, binary code is detected as ``Exec.isBinaryCode`` does; limits outside the configured bounds
are a 400 and code over the size limit a 413.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pytest_openwhisk.local import manifest
from pytest_openwhisk.local.config import Limits
from pytest_openwhisk.local.entities import FQN_MALFORMED, parse_common, qualified_path, too_large
from pytest_openwhisk.local.types import ControllerError, Fault, malformed_content

SEQUENCE = "sequence"
_BASE64 = re.compile(r"^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)$")
_MISSING = object()


def is_binary_code(code: str) -> bool:
    """``Exec.isBinaryCode``: trimmed code non-empty, length % 4 == 0, base64 alphabet and padding."""
    t = code.strip()
    return len(t) > 0 and len(t) % 4 == 0 and _BASE64.match(t) is not None


def _whole(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise malformed_content(f"{what} limit malformed")
    if isinstance(value, float) and not value.is_integer():
        raise malformed_content(f"{what} limit must be whole number")
    return int(value)


@dataclass
class ActionPut:
    """The validated fields of a PUT body; None means "absent"."""

    exec: dict[str, Any] | None = None
    parameters: list[dict[str, Any]] | None = None
    limits: dict[str, int] | None = None
    version: str | None = None
    publish: bool | None = None
    annotations: list[dict[str, Any]] | None = None
    del_annotations: list[str] | None = None


def _parse_exec(value: Any, caller_ns: str, kinds: tuple[str, ...] | None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise malformed_content("exec malformed")
    kind = value.get("kind")
    if not isinstance(kind, str):
        raise malformed_content("'kind' must be a string defined in 'exec'")
    kind = kind.strip().lower()
    if kind == SEQUENCE:
        components = value.get("components")
        if components is None:
            raise malformed_content("'components' must be defined for sequence kind")
        if not isinstance(components, list):
            raise malformed_content("'components' must be an array")
        if not all(isinstance(c, str) for c in components):
            raise malformed_content(FQN_MALFORMED)
        return {"kind": SEQUENCE, "components": ["/" + qualified_path(c, caller_ns) for c in components]}
    if kind == "blackbox":
        image = value.get("image")
        raise ControllerError(Fault.BAD_REQUEST, manifest.BLACKBOX_REFUSED.format(image=image or "(none)"))
    try:
        resolved = manifest.resolve_kind(kind, kinds)
    except ValueError as exc:
        raise malformed_content(str(exc)) from None
    code = value.get("code")
    if not isinstance(code, str):
        raise malformed_content(f"'code' must be a string defined in 'exec' for '{kind}' actions")
    main = value.get("main", _MISSING)
    if resolved in manifest.REQUIRE_MAIN and not isinstance(value.get("main"), str):
        raise malformed_content(f"'main' must be a string defined in 'exec' for '{kind}' actions")
    out: dict[str, Any] = {"kind": resolved, "code": code, "binary": is_binary_code(code)}
    if main is not _MISSING and main is not None:
        if not isinstance(main, str):
            raise malformed_content(f"if defined, 'main' be a string in 'exec' for '{kind}' actions")
        out["main"] = main
    return out


def _check_limits(value: Any, limits: Limits) -> dict[str, int]:
    if not isinstance(value, dict):
        raise malformed_content("limits malformed")
    out: dict[str, int] = {}
    for key in ("timeout", "memory", "logs", "concurrency"):
        if value.get(key) is not None:
            out[key] = _whole(value[key], "time" if key == "timeout" else key)
    checks = (
        (
            "memory",
            limits.memory_mb_min,
            limits.memory_mb_max,
            "memory size {v} MB {rel} allowed threshold of {t} MB",
        ),
        (
            "timeout",
            limits.timeout_ms_min,
            limits.timeout_ms_max,
            "duration {v} milliseconds {rel} allowed threshold of {t} milliseconds",
        ),
        ("logs", limits.logs_mb_min, limits.logs_mb_max, "log size {v} MB {rel} allowed threshold of {t} MB"),
        (
            "concurrency",
            limits.concurrency_min,
            limits.concurrency_max,
            "concurrency {v} {rel} allowed threshold of {t}",
        ),
    )
    for key, low, high, text in checks:
        v = out.get(key)
        if v is None:
            continue
        if v > high:
            raise ControllerError(Fault.BAD_REQUEST, text.format(v=v, rel="exceeds", t=high))
        if v < low:
            raise ControllerError(Fault.BAD_REQUEST, text.format(v=v, rel="below", t=low))
    return out


def parse_put(body: Any, limits: Limits, caller_ns: str, kinds: tuple[str, ...] | None = None) -> ActionPut:
    """Validate a PUT body (400 malformed / bad limits / bad kind, 413 sizes); ``kinds``: those offered."""
    common = parse_common(body, limits)
    put = ActionPut(
        parameters=common.parameters,
        annotations=common.annotations,
        version=common.version,
        publish=common.publish,
    )
    if body.get("exec") is not None:
        put.exec = _parse_exec(body["exec"], caller_ns, kinds)
        code = put.exec.get("code")
        if code is not None:
            size = len(code.encode())
            if size > limits.code_max_bytes:
                raise too_large("exec", size, limits.code_max_bytes)
    if body.get("limits") is not None:
        put.limits = _check_limits(body["limits"], limits)
    if body.get("delAnnotations") is not None:
        dels = body["delAnnotations"]
        if not isinstance(dels, list) or not all(isinstance(d, str) for d in dels):
            raise malformed_content("delAnnotations malformed")
        put.del_annotations = dels
    return put
