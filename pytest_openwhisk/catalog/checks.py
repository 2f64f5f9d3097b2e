"""The output check language of catalogue manifests: validation (:func:`compile_check`) and evaluation.

A check is a JSON object (or a list of them, all must hold)::

    {"path": "count", "equals": 9592}              # value at a dotted path ("a.b.0", "-1" = last)
    {"keys": ["html", "bytes_in"]}                 # the object (at path) has these keys
    {"path": "html", "contains": "<h1>"}           # substring / list element / object key
    {"path": "n", "type": "integer", "min": 1, "max": 10}
    {"path": "items", "length": 3}  {"path": "html", "matches": "^<h1>"}  {"path": "x", "approx": 1.5}
    {"path": "result", "equals": {"$input": "n"}}  # compare with the invocation's parameter ``n``
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_openwhisk.catalog.errors import CheckFailed, ManifestError

CHECK_OPS = ("equals", "contains", "keys", "type", "min", "max", "length", "matches", "approx", "tolerance")
TYPES: Mapping[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


@dataclass(frozen=True)
class Clause:
    """One check object: a path and the assertions on the value found there."""

    path: tuple[str | int, ...]
    ops: Mapping[str, Any]

    def describe(self) -> str:
        """``result.count equals 9592`` style text."""
        where = "result" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in self.path)
        return f"{where} " + ", ".join(
            f"{k} {json.dumps(v)}" for k, v in self.ops.items() if k != "tolerance"
        )


def _parse_path(raw: Any, where: str) -> tuple[str | int, ...]:
    if raw is None or raw == "":
        return ()
    parts: list[Any] = raw.split(".") if isinstance(raw, str) else list(raw) if isinstance(raw, list) else []
    if not parts or not all(isinstance(p, (str, int)) and not isinstance(p, bool) for p in parts):
        raise ManifestError(
            f"{where}: 'path' is {raw!r}; use a dotted string like \"a.b.0\" or a list of "
            'keys and indices like ["a", 0]'
        )
    return tuple(int(p) if isinstance(p, str) and re.fullmatch(r"-?\d+", p) else p for p in parts)


def compile_check(raw: Any, where: str = "check") -> tuple[Clause, ...]:
    """Validate a check (object or list of objects) and return its clauses; raises :class:`ManifestError`."""
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        raise ManifestError(
            f'{where}: the check list is empty; give at least one object like {{"keys": [...]}}'
        )
    clauses = []
    for index, item in enumerate(items):
        at = f"{where}[{index}]" if isinstance(raw, list) else where
        if not isinstance(item, dict):
            raise ManifestError(f'{at} is {item!r}; use an object such as {{"path": "n", "equals": 1}}')
        unknown = sorted(set(item) - {"path", *CHECK_OPS})
        if unknown:
            raise ManifestError(
                f"{at}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: path, {', '.join(CHECK_OPS)}"
            )
        ops = {k: v for k, v in item.items() if k != "path"}
        if not set(ops) - {"tolerance"}:
            raise ManifestError(f"{at} has no assertion; add one of {', '.join(CHECK_OPS[:-1])}")
        if "type" in ops and ops["type"] not in TYPES:
            raise ManifestError(f"{at}: type {ops['type']!r} is unknown; use one of {', '.join(TYPES)}")
        if "keys" in ops and not (
            isinstance(ops["keys"], list) and all(isinstance(k, str) for k in ops["keys"])
        ):
            raise ManifestError(f"{at}: 'keys' is {ops['keys']!r}; use a list of strings")
        for op in ("min", "max", "approx", "tolerance", "length"):
            if op in ops and (isinstance(ops[op], bool) or not isinstance(ops[op], (int, float))):
                raise ManifestError(f"{at}: '{op}' is {ops[op]!r}; use a number")
        if "matches" in ops:
            try:
                re.compile(ops["matches"])
            except (re.error, TypeError) as exc:
                raise ManifestError(f"{at}: 'matches' is not a valid regular expression ({exc})") from None
        clauses.append(Clause(_parse_path(item.get("path"), at), ops))
    return tuple(clauses)


_MISSING = object()


def _lookup(value: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        if isinstance(value, dict) and str(part) in value:
            value = value[str(part)]
        elif isinstance(value, list) and isinstance(part, int) and -len(value) <= part < len(value):
            value = value[part]
        else:
            return _MISSING
    return value


def _resolve_refs(expected: Any, params: Mapping[str, Any]) -> Any:
    if isinstance(expected, dict) and set(expected) == {"$input"}:
        key = expected["$input"]
        if key not in params:
            raise CheckFailed(
                f"the check refers to input parameter {key!r}, which the invocation did not pass"
            )
        return params[key]
    return expected


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values: ``1 == 1.0`` but ``true != 1``, recursively through objects and arrays."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and bool(a == b)


def _failure(op: str, expected: Any, actual: Any, ops: Mapping[str, Any]) -> str | None:
    """None when ``actual`` satisfies ``op``; else the reason."""
    if op == "equals":
        return None if json_equal(actual, expected) else f"expected {json.dumps(expected)}"
    if op == "type":
        wanted = TYPES[expected]
        ok = isinstance(actual, wanted) and not (
            isinstance(actual, bool) and expected in ("integer", "number")
        )
        return None if ok else f"expected type {expected}"
    if op == "keys":
        missing = [k for k in expected if not isinstance(actual, dict) or k not in actual]
        return None if not missing else f"missing key(s) {', '.join(missing)}"
    if op == "contains":
        try:
            ok = expected in actual if isinstance(actual, (str, list, dict)) else False
        except TypeError:
            ok = False
        return None if ok else f"expected it to contain {json.dumps(expected)}"
    if op in ("min", "max", "approx"):
        if isinstance(actual, bool) or not isinstance(actual, (int, float)):
            return f"expected a number ({op} {expected})"
        if op == "min":
            return None if actual >= expected else f"expected >= {expected}"
        if op == "max":
            return None if actual <= expected else f"expected <= {expected}"
        tolerance = float(ops.get("tolerance", 1e-9))
        return (
            None
            if math.isclose(actual, expected, rel_tol=tolerance, abs_tol=tolerance)
            else (f"expected {expected} ± {tolerance}")
        )
    if op == "length":
        ok = isinstance(actual, (str, list, dict)) and len(actual) == expected
        return None if ok else f"expected length {expected}"
    if op == "matches":
        return (
            None
            if isinstance(actual, str) and re.search(expected, actual)
            else f"expected to match /{expected}/"
        )
    return None  # "tolerance" modifies approx


def _short(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, default=str) if value is not _MISSING else "<missing>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def evaluate_check(
    clauses: Sequence[Clause], result: Any, params: Mapping[str, Any] | None = None, *, name: str = "function"
) -> None:
    """Raise :class:`CheckFailed` listing every clause ``result`` fails (params resolve ``{"$input": k}``)."""
    problems = []
    for clause in clauses:
        actual = _lookup(result, clause.path)
        for op, expected in clause.ops.items():
            if actual is _MISSING:
                problems.append(f"{clause.describe()}: the path does not exist")
                break
            reason = _failure(op, _resolve_refs(expected, params or {}), actual, clause.ops)
            if reason:
                problems.append(f"{clause.describe()}: got {_short(actual, 120)}, {reason}")
    if problems:
        raise CheckFailed(
            f"{name}: output check failed:\n  " + "\n  ".join(problems) + f"\nresult was: {_short(result)}"
        )
