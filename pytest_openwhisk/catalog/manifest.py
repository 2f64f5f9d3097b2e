"""Catalogue manifests: :class:`FunctionSpec` and loading/validating ``functions/<name>/manifest.json``.

A manifest names one action (or a sequence of catalogue actions), its runtime kind, its code, its
default limits, a sample input and a check of the output (see :mod:`pytest_openwhisk.catalog.checks`).
"""

from __future__ import annotations

import base64
import copy
import fnmatch
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_openwhisk.catalog.checks import Clause, compile_check, evaluate_check
from pytest_openwhisk.catalog.errors import ManifestError

#: the catalogue shipped with the project: ``<checkout>/functions``, or in an installed wheel
#: ``pytest_openwhisk/functions`` (the wheel carries the catalogue there)
_CHECKOUT = Path(__file__).resolve().parents[2]
DEFAULT_ROOT = (
    _CHECKOUT / "functions"
    if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "functions").is_dir()
    else Path(__file__).resolve().parents[1] / "functions"
)
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
SLO_MODES = ("warm", "cold", "concurrent")
#: runtime families a manifest may name (``<family>:<version>``), besides ``sequence``
LANGUAGES = ("python", "nodejs", "java", "ruby")
#: families whose functions may be zips built from the folder (java: a jar built from ``code``)
ZIP_LANGUAGES = ("python", "nodejs")
KIND_PATTERN = re.compile(rf"(?:{'|'.join(LANGUAGES)}):[\w.]+|sequence", re.ASCII)
#: a Java ``main``: a (dotted) class name with an optional ``#method`` (other kinds: an identifier)
_JAVA_MAIN = re.compile(r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*(?:#[A-Za-z_$][\w$]*)?", re.ASCII)


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
    kind: str  # "python:3.11", "nodejs:20", "java:8", "ruby:2.5", ..., or "sequence"
    code: Path | None = None  # single-file action (java: a .java file compiled into a jar at deploy)
    zip: ZipSpec | None = None  # binary action
    components: tuple[str, ...] = ()  # sequence of catalogue function names
    main: str | None = None  # java: the class (default: the .java file's name)
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
        """``python``, ``nodejs``, ``java``, ``ruby`` or ``sequence``."""
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
    if not KIND_PATTERN.fullmatch(kind):
        raise _fail(
            path,
            "kind",
            f"is {kind!r}",
            f"use <language>:<version> with language one of {', '.join(LANGUAGES)} "
            "(e.g. python:3.11, nodejs:20, java:8, ruby:2.5) or sequence",
        )
    language = kind.split(":", 1)[0]
    if "zip" in raw and language not in ZIP_LANGUAGES:
        fix = "give the .java file as 'code' (compiled into a jar at deploy)" if language == "java" else ""
        raise _fail(
            path,
            "zip",
            f"is not supported for kind {kind!r}",
            fix or f"give a single source file as 'code' (zips: {', '.join(ZIP_LANGUAGES)} kinds)",
        )
    code = zspec = None
    if "code" in raw:
        code = folder / str(raw["code"])
        if not code.is_file():
            raise _fail(
                path, "code", f"names {str(code)!r}, which does not exist", "name a file in the folder"
            )
        if language == "java" and code.suffix != ".java":
            raise _fail(
                path,
                "code",
                f"names {code.name!r}, which is not a .java file",
                f"a {kind} function is Java source (X.java with public class X), compiled at deploy",
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
        main=raw.get("main", code.stem if language == "java" and code is not None else None),
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
    if spec.main is not None and not (
        isinstance(spec.main, str)
        and (_JAVA_MAIN.fullmatch(spec.main) if language == "java" else spec.main.isidentifier())
    ):
        fix = (
            'use the class name, e.g. "Primes" (or "pkg.Primes", "Primes#method")'
            if language == "java"
            else 'use the name of the entry function, e.g. "main"'
        )
        raise _fail(path, "main", f"is {spec.main!r}", fix)
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
