"""The runtimes manifest we deploy with the chart: our kinds, upstream images.

One source of truth for kinds: :data:`pytest_openwhisk.local.manifest.KINDS` (the embedded server's
kinds, which the catalogue uses). Each of them that upstream OpenWhisk publishes an image for gets
that image (``ansible/files/runtimes.json`` of apache/openwhisk at :data:`UPSTREAM_COMMIT`, checked
by ``tests/kube/test_render.py`` against the copy in ``../shared/charts/``). The chart's own
``runtimes.json`` (``nodejs:14``, ``python:3`` = Python 3.7, ...) is replaced, so a catalogue action of
kind ``python:3.11`` is accepted by the controller instead of failing with HTTP 400.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_openwhisk.errors import ConfigError
from pytest_openwhisk.local import manifest as local_manifest
from pytest_openwhisk.local.config import StemCell

#: apache/openwhisk commit whose ansible/files/runtimes.json the images below come from
UPSTREAM_COMMIT = "1fae641a2b30bccb7ddc69d2d215866d899a8510"
#: kind -> (family, image prefix, image name, tag) of upstream's runtimes manifest
UPSTREAM_IMAGES: dict[str, tuple[str, str, str, str]] = {
    "nodejs:18": ("nodejs", "openwhisk", "action-nodejs-v18", "nightly"),
    "nodejs:20": ("nodejs", "openwhisk", "action-nodejs-v20", "nightly"),
    "python:3.10": ("python", "openwhisk", "action-python-v3.10", "nightly"),
    "python:3.11": ("python", "openwhisk", "action-python-v3.11", "nightly"),
    "swift:5.3": ("swift", "openwhisk", "action-swift-v5.3", "nightly"),
    "swift:5.7": ("swift", "openwhisk", "action-swift-v5.7", "nightly"),
    "java:8": ("java", "openwhisk", "java8action", "nightly"),
    "php:8.1": ("php", "openwhisk", "action-php-v8.1", "nightly"),
    "ruby:2.5": ("ruby", "openwhisk", "action-ruby-v2.5", "nightly"),
    "go:1.20": ("go", "openwhisk", "action-golang-v1.20", "nightly"),
    "dotnet:3.1": ("dotnet", "openwhisk", "action-dotnet-v3.1", "nightly"),
    "dotnet:6.0": ("dotnet", "openwhisk", "action-dotnet-v6.0", "nightly"),
    "rust:1.34": ("rust", "openwhisk", "action-rust-v1.34", "nightly"),
}
#: the Python version and platform of each upstream Python image (for wheels of zipped actions): Debian
#: bookworm since openwhisk-runtime-python 1.19.0, glibc 2.36, so any manylinux wheel up to 2.36 runs there
PYTHON_TARGETS: dict[str, tuple[str, str]] = {
    "python:3.10": ("3.10", "manylinux_2_36_x86_64"),
    "python:3.11": ("3.11", "manylinux_2_36_x86_64"),
}
#: kinds that are the family default in the deployed manifest (as in the embedded server)
DEFAULTS = {local_manifest.PYTHON_DEFAULT, local_manifest.NODEJS_DEFAULT}
BLACKBOXES = [{"prefix": "openwhisk", "name": "dockerskeleton", "tag": "nightly"}]


def cluster_kinds(kinds: Sequence[str] | None = None) -> tuple[str, ...]:
    """Our kinds (``local.manifest.KINDS`` by default) that have an upstream image, in that order."""
    return tuple(
        kind for kind in (kinds if kinds is not None else local_manifest.KINDS) if kind in UPSTREAM_IMAGES
    )


def missing_kinds(kinds: Sequence[str] | None = None) -> tuple[str, ...]:
    """Our kinds without an upstream image (not deployable on a cluster; the embedded server has them)."""
    wanted = kinds if kinds is not None else local_manifest.KINDS
    return tuple(kind for kind in wanted if kind not in UPSTREAM_IMAGES)


def cluster_manifest(
    prewarm: tuple[StemCell, ...] | None, kinds: Sequence[str] | None = None
) -> dict[str, Any]:
    """The ``runtimes.json`` for the chart: :func:`cluster_kinds` with upstream images and our stem cells.

    ``prewarm`` None keeps upstream's stem cells (2 x 256 MB ``nodejs:20``), ``()`` removes them. A stem
    cell of a kind the manifest lacks raises :class:`ConfigError` naming the kinds it has.
    """
    families: dict[str, list[dict[str, Any]]] = {}
    for kind in cluster_kinds(kinds):
        family, prefix, name, tag = UPSTREAM_IMAGES[kind]
        entry: dict[str, Any] = {
            "kind": kind,
            "default": kind in DEFAULTS or (family not in ("nodejs", "python") and not families.get(family)),
            "image": {"prefix": prefix, "name": name, "tag": tag},
            "deprecated": False,
            "attached": {"attachmentName": "codefile", "attachmentType": "text/plain"},
        }
        if family == "java":
            entry["requireMain"] = True
        families.setdefault(family, []).append(entry)
    by_kind = {entry["kind"]: entry for entries in families.values() for entry in entries}
    cells = prewarm if prewarm is not None else (StemCell(local_manifest.NODEJS_DEFAULT, 2, 256),)
    for cell in cells:
        found = by_kind.get(cell.kind)
        if found is None:
            raise ConfigError(
                f"prewarm kind {cell.kind!r} (--ow-prewarm) is not in the runtimes we deploy; "
                f"use one of {', '.join(by_kind)} (or none)"
            )
        found.setdefault("stemCells", []).append(
            {"initialCount": cell.count, "memory": f"{cell.memory_mb} MB"}
        )
    return {
        "description": [
            "pytest-openwhisk: the embedded server's kinds with the images of apache/openwhisk "
            f"ansible/files/runtimes.json @ {UPSTREAM_COMMIT[:7]}"
        ],
        "runtimes": families,
        "blackboxes": copy.deepcopy(BLACKBOXES),
    }


def manifest_kinds(manifest: Mapping[str, Any]) -> list[str]:
    """Every kind of a runtimes manifest (``{"runtimes": {family: [{kind, ...}]}}``), in order."""
    runtimes = manifest.get("runtimes") or {}
    return [str(entry["kind"]) for entries in runtimes.values() for entry in entries if "kind" in entry]


def manifest_images(manifest: Mapping[str, Any]) -> dict[str, str]:
    """kind -> ``prefix/name:tag`` of a runtimes manifest."""
    found: dict[str, str] = {}
    for entries in (manifest.get("runtimes") or {}).values():
        for entry in entries:
            image = entry.get("image") or {}
            found[str(entry.get("kind"))] = f"{image.get('prefix')}/{image.get('name')}:{image.get('tag')}"
    return found
