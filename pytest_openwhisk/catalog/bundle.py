"""Zips of binary catalogue functions: members, bundled installed packages, deterministic build, cache.

Binary actions are built from the function folder (``zip.include`` globs) plus installed packages
copied from this interpreter (``zip.bundle``, e.g. ``["PIL"]``) into
``virtualenv/lib/pythonX.Y/site-packages/`` with a ``virtualenv/bin/activate_this.py`` that puts that
directory first on ``sys.path`` (what OpenWhisk's Python runtime executes for zipped virtualenvs).
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib.metadata
import importlib.util
import os
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path

from pytest_openwhisk.catalog.errors import ManifestError
from pytest_openwhisk.catalog.manifest import MANIFEST, FunctionSpec
from pytest_openwhisk.zips import deterministic_zip

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


#: a backend's ``bundle_packages(kind, modules, cache_dir)``: site-packages members built for its runtime
#: image, or None to bundle this interpreter's packages (see ``Backend.bundle_packages``)
PackageBundler = Callable[[str, Sequence[str], Path], Mapping[str, bytes] | None]


def zip_members(
    spec: FunctionSpec, bundler: PackageBundler | None = None, cache_dir: str | Path | None = None
) -> dict[str, Path | bytes]:
    """Archive name -> source file (or bytes) for a binary catalogue function.

    ``zip.bundle`` packages come from ``bundler`` (the backend's, e.g. wheels for the cluster's image,
    cached under ``cache_dir``) when it returns members, else from this interpreter.
    """
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
    built = (
        bundler(spec.kind, spec.zip.bundle, _base(cache_dir) / "wheels")
        if bundler and spec.zip.bundle
        else None
    )
    if built is not None:
        for name, data in built.items():
            if not any(fnmatch.fnmatch(name.split("site-packages/", 1)[-1], p) for p in spec.zip.exclude):
                members[name] = data
        members["virtualenv/bin/activate_this.py"] = _ACTIVATE_THIS.encode()
    elif spec.zip.bundle:
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
    return deterministic_zip(zip_members(spec))


def _base(cache_dir: str | Path | None) -> Path:
    return Path(cache_dir) if cache_dir is not None else Path(tempfile.gettempdir()) / "pytest-openwhisk-zips"


def zip_path(
    spec: FunctionSpec, cache_dir: str | Path | None = None, bundler: PackageBundler | None = None
) -> Path:
    """Build (once per content) the function's zip under ``cache_dir`` and return its path."""
    members = zip_members(spec, bundler, cache_dir)
    digest = hashlib.sha256()
    for name, source in sorted(members.items()):
        digest.update(name.encode())
        if isinstance(source, bytes):
            digest.update(source)
        else:
            stat = source.stat()
            digest.update(f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_mode}".encode())
    base = _base(cache_dir)
    base.mkdir(parents=True, exist_ok=True)
    target = base / f"{spec.name}-{digest.hexdigest()[:16]}.zip"
    if not target.is_file():
        partial = target.with_suffix(f".{os.getpid()}.part")
        partial.write_bytes(deterministic_zip(members))
        partial.replace(target)
    return target
