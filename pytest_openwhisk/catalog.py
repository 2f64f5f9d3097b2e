"""The function catalogue: ``functions/<name>/manifest.json`` loader, output checks and deployment.

A manifest names one action (or a sequence of catalogue actions), its runtime kind, its code, its
default limits, a sample input and a check of the output. The check language is a JSON object (or a
list of them, all must hold)::

    {"path": "count", "equals": 9592}              # value at a dotted path ("a.b.0", "-1" = last)
    {"keys": ["html", "bytes_in"]}                 # the object (at path) has these keys
    {"path": "html", "contains": "<h1>"}           # substring / list element / object key
    {"path": "n", "type": "integer", "min": 1, "max": 10}
    {"path": "items", "length": 3}  {"path": "html", "matches": "^<h1>"}  {"path": "x", "approx": 1.5}
    {"path": "result", "equals": {"$input": "n"}}  # compare with the invocation's parameter ``n``

Binary actions are built from the function folder (``zip.include`` globs) plus installed packages
copied from this interpreter (``zip.bundle``, e.g. ``["PIL"]``) into
``virtualenv/lib/pythonX.Y/site-packages/`` with a ``virtualenv/bin/activate_this.py`` that puts that
directory first on ``sys.path`` (what OpenWhisk's Python runtime executes for zipped virtualenvs).
"""

from __future__ import annotations

import base64
import copy
import fnmatch
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import math
import os
import re
import sys
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from pytest_openwhisk.errors import ConfigError, OpenWhiskError

#: the catalogue shipped with the project (``<repo>/functions``)
DEFAULT_ROOT = Path(__file__).resolve().parent.parent / "functions"
MANIFEST = "manifest.json"
FIELDS = (
    "name",
    "description",
    "kind",
    "code",
    "zip",
    "components",
    "main",
    "memory",
    "timeout",
    "params",
    "annotations",
    "input",
    "input_files",
    "check",
    "tags",
    "slo",
    "notes",
)
ZIP_FIELDS = ("include", "bundle", "exclude")
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
SLO_MODES = ("warm", "cold", "concurrent")
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_ACTIVATE_THIS = '''"""Put this bundle's site-packages first on sys.path (the runtime runs it before main)."""
import os
import site
import sys

_base = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_site = os.path.join(_base, "lib", "python%d.%d" % sys.version_info[:2], "site-packages")
_before = list(sys.path)
site.addsitedir(_site)
sys.path[:] = [p for p in sys.path if p not in _before] + _before
os.environ["VIRTUAL_ENV"] = _base
'''


class ManifestError(ConfigError):
    """A manifest is invalid; the message names the file, the field and the fix."""


class CheckFailed(OpenWhiskError, AssertionError):
    """A function's output did not pass its manifest check."""


class ActionFactoryLike(Protocol):
    """What :func:`deploy` needs from the ``ow_action`` fixture."""

    def __call__(
        self,
        name: str,
        source: str | Path | None = None,
        *,
        code: str | None = None,
        kind: str | None = None,
        main: str | None = None,
        memory: int | None = None,
        timeout: int | None = None,
        logs: int | None = None,
        concurrency: int | None = None,
        params: Mapping[str, Any] | None = None,
        annotations: Mapping[str, Any] | None = None,
    ) -> Any: ...

    def sequence(
        self, name: str, components: Sequence[Any], *, annotations: Mapping[str, Any] | None = None
    ) -> Any: ...


# --------------------------------------------------------------------------------------------- checks


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


# -------------------------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class ZipSpec:
    """How to build a binary action: files of the folder plus bundled installed packages."""

    include: tuple[str, ...]
    bundle: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class FunctionSpec:
    """One catalogue function, validated."""

    name: str
    folder: Path
    description: str
    kind: str  # "python:3.11", "nodejs:20", ..., or "sequence"
    code: Path | None = None  # single-file action
    zip: ZipSpec | None = None  # binary action
    components: tuple[str, ...] = ()  # sequence of catalogue function names
    main: str | None = None
    memory: int | None = None  # MB
    timeout: int | None = None  # ms
    params: Mapping[str, Any] = field(default_factory=dict)  # bound at deploy time
    annotations: Mapping[str, Any] = field(default_factory=dict)
    input: Mapping[str, Any] = field(default_factory=dict)  # sample input, input_files resolved
    checks: tuple[Clause, ...] = ()
    tags: tuple[str, ...] = ()
    slo: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # mode -> ow_slo targets
    notes: str = ""

    @property
    def manifest_path(self) -> Path:
        """Path of this function's ``manifest.json``."""
        return self.folder / MANIFEST

    @property
    def language(self) -> str:
        """``python``, ``nodejs`` or ``sequence``."""
        return self.kind.split(":", 1)[0]

    @property
    def is_sequence(self) -> bool:
        """True for a composition of other catalogue functions."""
        return self.kind == "sequence"

    def sample_input(self, **overrides: Any) -> dict[str, Any]:
        """A fresh copy of the manifest's sample input with ``overrides`` applied."""
        return {**copy.deepcopy(dict(self.input)), **overrides}

    def slo_marks(self, mode: str) -> list[Any]:
        """``[pytest.mark.ow_slo(**targets)]`` for the manifest's ``slo[mode]``, or ``[]`` without targets."""
        import pytest

        targets = self.slo.get(mode)
        return [pytest.mark.ow_slo(**targets)] if targets else []

    def check(self, result: Any, params: Mapping[str, Any] | None = None) -> None:
        """Raise :class:`CheckFailed` unless ``result`` passes the check (``params``: the invocation's)."""
        evaluate_check(self.checks, result, self.sample_input() if params is None else params, name=self.name)


def _fail(path: Path, fieldname: str, problem: str, fix: str) -> ManifestError:
    return ManifestError(f"{path}: field '{fieldname}' {problem}; {fix}")


def _int_field(path: Path, raw: Mapping[str, Any], key: str, low: int, high: int, unit: str) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(path, key, f"is {value!r}", f"use an integer number of {unit} from {low} to {high}")
    return value


def _mapping(path: Path, raw: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise _fail(path, key, f"is {type(value).__name__} {value!r}", "use a JSON object")
    return value


def _strings(path: Path, raw: Any, key: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(x, str) and x for x in raw):
        raise _fail(path, key, f"is {raw!r}", "use a list of non-empty strings")
    return tuple(raw)


def _load_input(path: Path, raw: Mapping[str, Any]) -> dict[str, Any]:
    sample = dict(_mapping(path, raw, "input"))
    for key, rel in _mapping(path, raw, "input_files").items():
        file = (path.parent / str(rel)).resolve()
        if not file.is_file():
            raise _fail(
                path,
                f"input_files.{key}",
                f"points to {str(file)!r}, which does not exist",
                'give a path relative to the function folder, e.g. "../assets/sample.jpg"',
            )
        sample[key] = base64.b64encode(file.read_bytes()).decode("ascii")
    return sample


def load_function(folder: Path) -> FunctionSpec:
    """Read and validate ``folder/manifest.json``."""
    path = folder / MANIFEST
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{path} does not exist; every function folder needs a manifest.json") from None
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path} is not valid JSON ({exc}); fix the syntax at that line") from None
    if not isinstance(raw, dict):
        raise ManifestError(f"{path} must hold a JSON object, not {type(raw).__name__}")
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise _fail(path, unknown[0], "is not a manifest field", f"allowed fields: {', '.join(FIELDS)}")
    for key in ("name", "description", "kind"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise _fail(path, key, "is missing or empty", "it is required (a non-empty string)")
    if raw["name"] != folder.name:
        raise _fail(
            path,
            "name",
            f"is {raw['name']!r} but the folder is {folder.name!r}",
            "make them equal (the folder name is the catalogue key)",
        )
    kind = raw["kind"]
    sources = [k for k in ("code", "zip", "components") if k in raw]
    expected = ["components"] if kind == "sequence" else ["code or zip"]
    if len(sources) != 1 or (kind == "sequence") != (sources == ["components"]):
        raise _fail(
            path,
            "/".join(sources) or "code",
            f"combination {sources or 'none'} is invalid for kind {kind!r}",
            f"give exactly {expected[0]}",
        )
    if not re.fullmatch(r"(python|nodejs):[\w.]+|sequence", kind):
        raise _fail(path, "kind", f"is {kind!r}", "use a kind such as python:3.11, nodejs:20 or sequence")
    code = zspec = None
    if "code" in raw:
        code = folder / str(raw["code"])
        if not code.is_file():
            raise _fail(
                path, "code", f"names {str(code)!r}, which does not exist", "name a file in the folder"
            )
    if "zip" in raw:
        zraw = raw["zip"] if isinstance(raw["zip"], dict) else None
        if zraw is None or set(zraw) - set(ZIP_FIELDS):
            raise _fail(path, "zip", f"is {raw['zip']!r}", f"use an object with keys {', '.join(ZIP_FIELDS)}")
        default_include = ["*.py"] if kind.startswith("python") else ["*.js", "*.json"]
        zspec = ZipSpec(
            _strings(path, zraw.get("include", default_include), "zip.include"),
            _strings(path, zraw.get("bundle"), "zip.bundle"),
            _strings(path, zraw.get("exclude"), "zip.exclude"),
        )
        entry = "__main__.py" if kind.startswith("python") else "package.json"
        if not (folder / entry).is_file() or not any(fnmatch.fnmatch(entry, g) for g in zspec.include):
            raise _fail(
                path,
                "zip.include",
                f"does not include {entry}",
                f"a {kind} zip action needs {entry} at its top level; add the file and its glob",
            )
    slo = _mapping(path, raw, "slo")
    for mode, targets in slo.items():
        if (
            mode not in SLO_MODES
            or not isinstance(targets, dict)
            or not all(isinstance(v, str) for v in targets.values())
        ):
            raise _fail(
                path,
                f"slo.{mode}",
                f"is {targets!r}",
                f'use {{mode: {{metric: "250ms" | "1%"}}}} with mode one of {", ".join(SLO_MODES)}',
            )
    spec = FunctionSpec(
        name=raw["name"],
        folder=folder,
        description=raw["description"],
        kind=kind,
        code=code,
        zip=zspec,
        components=_strings(path, raw.get("components"), "components"),
        main=raw.get("main"),
        memory=_int_field(path, raw, "memory", 128, 2048, "MB"),
        timeout=_int_field(path, raw, "timeout", 100, 300_000, "milliseconds"),
        params=_mapping(path, raw, "params"),
        annotations=_mapping(path, raw, "annotations"),
        input=_load_input(path, raw),
        checks=compile_check(raw.get("check", {"type": "object"}), f"{path}: check"),
        tags=_strings(path, raw.get("tags"), "tags"),
        slo=slo,
        notes=str(raw.get("notes", "")),
    )
    if spec.main is not None and not (isinstance(spec.main, str) and spec.main.isidentifier()):
        raise _fail(path, "main", f"is {spec.main!r}", 'use the name of the entry function, e.g. "main"')
    return spec


def load_catalog(root: str | Path | None = None) -> dict[str, FunctionSpec]:
    """Every function under ``root`` (default: the project's ``functions/``), keyed by name, sorted."""
    base = Path(root) if root is not None else DEFAULT_ROOT
    if not base.is_dir():
        raise ManifestError(
            f"catalogue folder {str(base)!r} does not exist; pass the path of a functions/ folder"
        )
    specs = {f.name: load_function(f) for f in sorted(base.iterdir()) if (f / MANIFEST).is_file()}
    for spec in specs.values():
        for component in spec.components:
            if component not in specs or specs[component].is_sequence:
                raise _fail(
                    spec.manifest_path,
                    "components",
                    f"names {component!r}, which is not a primitive catalogue function",
                    f"use names of folders in {base} ({', '.join(specs)})",
                )
    return specs


# ---------------------------------------------------------------------------------------------- zip


@lru_cache(maxsize=1)
def _module_distributions() -> Mapping[str, list[str]]:
    return importlib.metadata.packages_distributions()


def bundle_files(module: str, exclude: Sequence[str] = (), *, where: str = "zip.bundle") -> dict[str, Path]:
    """Files of the installed distribution(s) providing ``module``, keyed by site-packages-relative path."""
    files: dict[str, Path] = {}
    dists = _module_distributions().get(module, [])
    for dist_name in dists:
        dist = importlib.metadata.distribution(dist_name)
        for entry in dist.files or ():
            rel = entry.as_posix()
            if rel.startswith("..") or "__pycache__" in rel or rel.endswith(".pyc"):
                continue
            if any(fnmatch.fnmatch(rel, pattern) for pattern in exclude):
                continue
            located = Path(str(dist.locate_file(entry)))
            if located.is_file():
                files[rel] = located
    if not dists:  # a module installed without metadata: copy its package folder or file
        found = importlib.util.find_spec(module)
        if found is None or not found.origin or found.origin in ("built-in", "frozen"):
            raise ManifestError(
                f"{where} names {module!r}, which is not installed in this Python ({sys.executable}); "
                f"install it (e.g. pip install {module}) or remove it from {where}"
            )
        origin = Path(found.origin)
        top = origin.parent if origin.name == "__init__.py" else origin
        for file in [p for p in top.rglob("*") if p.is_file()] if top.is_dir() else [top]:
            rel = file.relative_to(top.parent).as_posix()
            if "__pycache__" not in rel and not any(fnmatch.fnmatch(rel, p) for p in exclude):
                files[rel] = file
    return files


def _add(archive: zipfile.ZipFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = zipfile.ZipInfo(name, _ZIP_EPOCH)
    info.external_attr = (mode & 0o777) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def zip_members(spec: FunctionSpec) -> dict[str, Path | bytes]:
    """Archive name -> source file (or bytes) for a binary catalogue function."""
    if spec.zip is None:
        raise ManifestError(f"{spec.manifest_path}: {spec.name} is not a zip action (it has no 'zip' field)")
    members: dict[str, Path | bytes] = {}
    for file in sorted(spec.folder.rglob("*")):
        rel = file.relative_to(spec.folder).as_posix()
        if (
            file.is_file()
            and rel != MANIFEST
            and "__pycache__" not in rel
            and any(fnmatch.fnmatch(rel, g) for g in spec.zip.include)
        ):
            members[rel] = file
    if spec.zip.bundle:
        site = f"virtualenv/lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"
        where = f"{spec.manifest_path}: zip.bundle"
        for module in spec.zip.bundle:
            for rel, file in bundle_files(module, spec.zip.exclude, where=where).items():
                members[f"{site}/{rel}"] = file
        members["virtualenv/bin/activate_this.py"] = _ACTIVATE_THIS.encode()
        wanted = spec.kind.split(":", 1)[1]
        host = f"{sys.version_info.major}.{sys.version_info.minor}"
        binary = any(str(name).endswith(".so") for name in members)
        if binary and wanted not in (host, "default", "3"):
            raise ManifestError(
                f"{spec.manifest_path}: field 'kind' is {spec.kind!r} but the bundled packages "
                f"contain extensions built for Python {host}; use kind 'python:{host}'"
            )
    return members


def build_zip(spec: FunctionSpec) -> bytes:
    """The deterministic zip of a binary catalogue function (sorted entries, fixed timestamps)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name, source in sorted(zip_members(spec).items()):
            if isinstance(source, bytes):
                _add(archive, name, source)
            else:
                _add(archive, name, source.read_bytes(), source.stat().st_mode)
    return buffer.getvalue()


def zip_path(spec: FunctionSpec, cache_dir: str | Path | None = None) -> Path:
    """Build (once per content) the function's zip under ``cache_dir`` and return its path."""
    members = zip_members(spec)
    digest = hashlib.sha256()
    for name, source in sorted(members.items()):
        digest.update(name.encode())
        if isinstance(source, bytes):
            digest.update(source)
        else:
            stat = source.stat()
            digest.update(f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_mode}".encode())
    base = Path(cache_dir) if cache_dir is not None else Path(tempfile.gettempdir()) / "pytest-openwhisk-zips"
    base.mkdir(parents=True, exist_ok=True)
    target = base / f"{spec.name}-{digest.hexdigest()[:16]}.zip"
    if not target.is_file():
        partial = target.with_suffix(f".{os.getpid()}.part")
        partial.write_bytes(build_zip(spec))
        partial.replace(target)
    return target


# ------------------------------------------------------------------------------------------- deploy


def deploy(
    ow_action: ActionFactoryLike,
    spec: FunctionSpec,
    *,
    name: str | None = None,
    catalog: Mapping[str, FunctionSpec] | None = None,
    cache_dir: str | Path | None = None,
    **overrides: Any,
) -> Any:
    """Deploy ``spec`` through the ``ow_action`` fixture and return its ``Action``.

    ``overrides`` replace the manifest's ``kind``, ``main``, ``memory``, ``timeout``, ``logs``,
    ``concurrency``, ``params`` (merged over the manifest's) and ``annotations`` (merged). A sequence
    deploys its components first (from ``catalog``, default: the catalogue next to ``spec``).
    """
    allowed = {"kind", "main", "memory", "timeout", "logs", "concurrency", "params", "annotations"}
    bad = sorted(set(overrides) - allowed)
    if bad:
        raise ConfigError(
            f"deploy({spec.name!r}): unknown override(s) {', '.join(bad)}; allowed: "
            f"{', '.join(sorted(allowed))}"
        )
    if spec.is_sequence:
        specs = catalog if catalog is not None else load_catalog(spec.folder.parent)
        steps = [
            deploy(
                ow_action,
                specs[c],
                catalog=specs,
                cache_dir=cache_dir,
                **({"params": overrides["params"]} if "params" in overrides else {}),
            )
            for c in spec.components
        ]
        return ow_action.sequence(
            name or spec.name, steps, annotations={**spec.annotations, **overrides.get("annotations", {})}
        )
    source = spec.code if spec.code is not None else zip_path(spec, cache_dir)
    return ow_action(
        name or spec.name,
        source,
        kind=overrides.get("kind", spec.kind),
        main=overrides.get("main", spec.main),
        memory=overrides.get("memory", spec.memory),
        timeout=overrides.get("timeout", spec.timeout),
        logs=overrides.get("logs"),
        concurrency=overrides.get("concurrency"),
        params={**spec.params, **overrides.get("params", {})} or None,
        annotations={**spec.annotations, **overrides.get("annotations", {})} or None,
    )


# -------------------------------------------------------------------------------------------- docs


def markdown_table(specs: Mapping[str, FunctionSpec]) -> str:
    """The catalogue as a Markdown table (docs/catalogue.md embeds it between marker comments)."""
    rows = [
        "| function | kind | packaging | limits | SLO warm | SLO cold | what it does |",
        "|---|---|---|---|---|---|---|",
    ]
    for spec in specs.values():
        if spec.is_sequence:
            packaging = "sequence: " + " → ".join(spec.components)
        elif spec.zip is not None:
            packaging = "zip" + (f" + bundled {', '.join(spec.zip.bundle)}" if spec.zip.bundle else "")
        else:
            packaging = f"file `{spec.code.name if spec.code else ''}`"
        limits = (
            ", ".join(
                x
                for x in (
                    f"{spec.memory} MB" if spec.memory else "",
                    f"{spec.timeout / 1000:g} s" if spec.timeout else "",
                )
                if x
            )
            or "defaults"
        )
        slo = {
            mode: ", ".join(f"{k} ≤ {v}" for k, v in spec.slo.get(mode, {}).items()) or "–"
            for mode in ("warm", "cold")
        }
        rows.append(
            f"| `{spec.name}` | {spec.kind} | {packaging} | {limits} | {slo['warm']} | {slo['cold']} "
            f"| {spec.description} |"
        )
    return "\n".join(rows) + "\n"


# ------------------------------------------------------------------------------ chain results


def nested_own_ms(result: Mapping[str, Any]) -> float:
    """Time (ms) a ``chain-nested-python`` result spent inside the levels' own code.

    Each level contributes start -> invoke of its child plus child return -> its own return; the leaf
    contributes start -> return. ``startTimes``/``invokeTimes`` are outermost first, ``retTimes`` leaf
    first (each level appends its return time after its child's).
    """
    starts, invokes, rets = list(result["startTimes"]), list(result["invokeTimes"]), list(result["retTimes"])
    depth = len(starts)
    if depth == 0 or len(rets) != depth or len(invokes) != depth - 1:
        raise ValueError(
            f"not a nested-chain result: {depth} startTimes, {len(invokes)} invokeTimes, {len(rets)} "
            "retTimes; expected N, N-1 and N (the output of chain-nested-python)"
        )
    own = rets[0] - starts[-1]
    for level in range(depth - 1):
        own += invokes[level] - starts[level]
        own += rets[depth - 1 - level] - rets[depth - 2 - level]
    return float(own)


def chain_overhead_per_step_ms(span_ms: float, own_ms: float, length: int) -> float:
    """Chaining overhead per step: (wall span - time in the components' code) / N."""
    if length < 1:
        raise ValueError(f"chain length is {length}; use the number of steps (>= 1)")
    return (span_ms - own_ms) / length
