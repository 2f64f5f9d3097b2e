"""Packages and package bindings: the document, ``PUT …/packages/{name}`` validation and create/update.

Mirrors ``WhiskPackagesApi``: a binding names the package it binds (``_`` = the caller's namespace) and
carries a ``binding`` annotation that the controller sets; a package cannot become a binding (409).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from pytest_openwhisk.local.config import Limits
from pytest_openwhisk.local.entities import EntityPut, bump_patch, entity_head, is_entity_name, parse_common
from pytest_openwhisk.local.types import ControllerError, Fault, malformed_content

RESERVED_PACKAGE = "default"
BINDING_MISSING = "Binding references a package that does not exist."
CANNOT_BECOME_BINDING = "Resource is a package and cannot be converted into a binding."
BINDING_TO_BINDING = "Cannot bind to another package binding."
BINDING_NOT_PACKAGE = "Cannot bind to a resource that is not a package."
NOT_ON_BINDING = "Operation not permitted on package binding."


@dataclass
class PackageDoc:
    """A package or a package binding (``binding`` = ``{"namespace", "name"}`` of the bound package)."""

    namespace: str
    name: str
    binding: dict[str, str] | None
    parameters: list[dict[str, Any]]
    version: str
    publish: bool
    annotations: list[dict[str, Any]]
    updated: int
    revision: str = field(default_factory=lambda: uuid.uuid4().hex)
    collection = "packages"

    @property
    def path(self) -> str:
        """``ns/name`` (the document id; actions inside live under ``ns/name/action``)."""
        return f"{self.namespace}/{self.name}"

    @property
    def bound_path(self) -> str | None:
        """``ns/name`` of the package a binding refers to (None for a package)."""
        return f"{self.binding['namespace']}/{self.binding['name']}" if self.binding else None

    def to_json(self) -> dict[str, Any]:
        """The package JSON of PUT/DELETE (``binding`` is ``{}`` for a package)."""
        return {
            **entity_head(self),
            "parameters": self.parameters,
            "binding": dict(self.binding) if self.binding else {},
            "updated": self.updated,
        }

    def summary(self) -> dict[str, Any]:
        """The ``packages`` view summary (``binding`` false for a package)."""
        return {
            **entity_head(self),
            "binding": dict(self.binding) if self.binding else False,
            "updated": self.updated,
        }


def parse_package_put(body: Any, limits: Limits, caller_ns: str) -> tuple[EntityPut, dict[str, str] | None]:
    """Validate a package PUT: the shared fields and the optional ``binding`` (``_`` resolved)."""
    put = parse_common({} if body is None else body, limits)
    raw = (body or {}).get("binding")
    if raw is None or raw == {}:
        return put, None
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("name"), str)
        or not isinstance(raw.get("namespace"), str)
    ):
        raise malformed_content("binding malformed")
    ns = caller_ns if raw["namespace"] == "_" else raw["namespace"]
    if not is_entity_name(ns) or not is_entity_name(raw["name"]):
        raise malformed_content("binding malformed")
    return put, {"namespace": ns, "name": raw["name"]}


def _binding_annotation(
    annotations: list[dict[str, Any]], binding: dict[str, str] | None
) -> list[dict[str, Any]]:
    out = [a for a in annotations if a["key"] != "binding"]  # always set by the controller
    if binding:
        out.append({"key": "binding", "value": dict(binding)})
    return out


def make_package(put: EntityPut, binding: dict[str, str] | None, namespace: str, name: str) -> PackageDoc:
    """A new package or binding (``WhiskPackagesApi.create``)."""
    return PackageDoc(
        namespace=namespace,
        name=name,
        binding=binding,
        parameters=list(put.parameters or []),
        version=put.version or "0.0.1",
        publish=bool(put.publish),
        annotations=_binding_annotation(put.annotations or [], binding),
        updated=int(time.time() * 1000),
    )


def update_package(put: EntityPut, binding: dict[str, str] | None, old: PackageDoc) -> PackageDoc:
    """Merge a PUT over a package (absent fields kept, version patch + 1)."""
    if binding is not None and old.binding is None:
        raise ControllerError(Fault.CONFLICT, CANNOT_BECOME_BINDING)
    new_binding = binding or old.binding
    return PackageDoc(
        namespace=old.namespace,
        name=old.name,
        binding=new_binding,
        parameters=list(put.parameters) if put.parameters is not None else list(old.parameters),
        version=put.version or bump_patch(old.version),
        publish=put.publish if put.publish is not None else old.publish,
        annotations=_binding_annotation(
            put.annotations if put.annotations is not None else old.annotations, new_binding
        ),
        updated=int(time.time() * 1000),
    )
