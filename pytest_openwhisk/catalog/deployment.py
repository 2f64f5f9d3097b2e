"""Deploying catalogue functions (files, zips and sequences) through the ``ow_action`` fixture."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_openwhisk.catalog.bundle import zip_path
from pytest_openwhisk.catalog.manifest import FunctionSpec, load_catalog
from pytest_openwhisk.errors import ConfigError

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
