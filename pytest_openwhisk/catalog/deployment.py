"""Deploying catalogue functions (files, zips, Java jars and sequences) through the ``ow_action`` fixture.

Before a primitive function is deployed its kind is looked up in the backend's runtimes manifest
(``GET /``): a kind the backend lacks fails with :class:`KindUnavailable` naming the kinds it has (the
embedded server offers ``java:*`` / ``ruby:*`` only where their toolchain is installed).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_openwhisk.catalog.bundle import zip_path
from pytest_openwhisk.catalog.errors import KindUnavailable
from pytest_openwhisk.catalog.jars import jar_path
from pytest_openwhisk.catalog.manifest import FunctionSpec, load_catalog
from pytest_openwhisk.errors import ApiError, BackendError, ConfigError

if TYPE_CHECKING:
    from pytest_openwhisk.actions import ActionFactory


def deploy(
    ow_action: ActionFactory,
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
    kind = overrides.get("kind", spec.kind)
    require_kind(ow_action, kind, spec.name)
    if spec.language == "java" and spec.code is not None:
        source: Path = jar_path(spec, cache_dir)
    else:
        source = spec.code if spec.code is not None else zip_path(spec, cache_dir, ow_action.bundle_packages)
    return ow_action(
        name or spec.name,
        source,
        kind=kind,
        main=overrides.get("main", spec.main),
        memory=overrides.get("memory", spec.memory),
        timeout=overrides.get("timeout", spec.timeout),
        logs=overrides.get("logs"),
        concurrency=overrides.get("concurrency"),
        params={**spec.params, **overrides.get("params", {})} or None,
        annotations={**spec.annotations, **overrides.get("annotations", {})} or None,
    )


#: install hints for the embedded backend's optional runtime families
TOOLCHAIN_HINTS = {
    "java": "apt-get install default-jdk-headless libgoogle-gson-java",
    "ruby": "apt-get install ruby",
}


def offered_kinds(ow_action: Any) -> tuple[str, ...] | None:
    """The kinds in the backend's runtimes manifest (``GET /``); None when it is unreadable or empty."""
    client = getattr(ow_action, "client", None)
    if client is None or not hasattr(client, "info"):
        return None
    try:
        runtimes = client.info().get("runtimes")
    except (ApiError, BackendError, OSError):
        return None
    if not isinstance(runtimes, dict):
        return None
    kinds = sorted(
        entry["kind"]
        for entries in runtimes.values()
        if isinstance(entries, list)
        for entry in entries
        if isinstance(entry, dict) and isinstance(entry.get("kind"), str)
    )
    return tuple(kinds) or None


def require_kind(ow_action: Any, kind: str, function: str) -> None:
    """Raise :class:`KindUnavailable` when the backend behind ``ow_action`` has no runtime ``kind``.

    ``<family>:default`` is accepted when the backend has any kind of that family; a backend whose
    runtimes manifest cannot be read is let through (its PUT decides).
    """
    kinds = offered_kinds(ow_action)
    if kinds is None or kind in kinds:
        return
    family, _, version = kind.partition(":")
    if version == "default" and any(k.split(":", 1)[0] == family for k in kinds):
        return
    hint = TOOLCHAIN_HINTS.get(family)
    fix = (
        f"deploy to a backend that has it, or on the embedded backend install its toolchain ({hint})"
        if hint
        else "deploy to a backend that has it or override the kind (deploy(..., kind=...))"
    )
    raise KindUnavailable(
        f"deploy({function!r}): the backend has no runtime kind {kind!r}; it offers {', '.join(kinds)}; {fix}"
    )
