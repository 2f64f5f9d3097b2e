"""``/api/v1/namespaces/{ns}/packages``: packages and package bindings (``Packages.scala``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from pytest_openwhisk.local.api_entities import CollectionApi, entity_target
from pytest_openwhisk.local.entities import merge_params
from pytest_openwhisk.local.httpapi import (
    json_response,
    parse_json_body,
    query_bool,
    read_body,
)
from pytest_openwhisk.local.package_doc import (
    BINDING_MISSING,
    BINDING_NOT_PACKAGE,
    BINDING_TO_BINDING,
    RESERVED_PACKAGE,
    PackageDoc,
    make_package,
    parse_package_put,
    update_package,
)
from pytest_openwhisk.local.types import ControllerError, Fault


class PackagesApi(CollectionApi[PackageDoc]):
    """Handlers of the packages collection."""

    collection = "packages"
    kind = PackageDoc

    def _check_binding(self, bound: str) -> None:
        """``checkBinding``: the bound package exists, is a package, and is not itself a binding."""
        target = self.ctl.entities.get(bound)
        if target is None:
            raise ControllerError(Fault.BAD_REQUEST, BINDING_MISSING)
        if not isinstance(target, PackageDoc):
            raise ControllerError(Fault.CONFLICT, BINDING_NOT_PACKAGE)
        if target.binding is not None:
            raise ControllerError(Fault.BAD_REQUEST, BINDING_TO_BINDING)

    async def put(self, request: web.Request) -> web.Response:
        """Create or (``overwrite=true``) update a package or binding."""
        ns, name = entity_target(request, self.own)
        overwrite = query_bool(request.query, "overwrite", False)
        if name == RESERVED_PACKAGE:
            raise ControllerError(Fault.BAD_REQUEST, f"Package name '{name}' is reserved.")
        body = parse_json_body(await read_body(request, self.max_put), request.content_type)
        put, binding = parse_package_put(body, self.ctl.limits, self.own)
        path = f"{ns}/{name}"
        old = self.ctl.entities.find(path, PackageDoc)
        if old is not None and not overwrite:
            raise ControllerError(Fault.CONFLICT, "resource already exists")
        if old is not None:
            doc = update_package(put, binding, old)  # 409 when a package would become a binding
            if binding is not None:
                self._check_binding(f"{binding['namespace']}/{binding['name']}")
        else:
            if binding is not None:
                self._check_binding(f"{binding['namespace']}/{binding['name']}")
            doc = make_package(put, binding, ns, name)
        self.ctl.entities.put(doc)
        return json_response(doc.to_json())

    async def get(self, request: web.Request) -> web.Response:
        """The package with its actions (a binding: merged with the bound package)."""
        pkg = self.existing(request)
        out: dict[str, Any] = pkg.to_json()
        real = pkg
        if pkg.bound_path is not None:
            bound = self.ctl.entities.get(pkg.bound_path)
            if not isinstance(bound, PackageDoc):
                raise ControllerError(Fault.NOT_FOUND, "The requested resource does not exist.")
            real = bound
            out["parameters"] = merge_params(bound.parameters, pkg.parameters)
        actions = self.ctl.entities.actions_in(real.path)
        out["actions"] = [
            {"name": a.name, "version": a.version, "annotations": a.annotations}
            for a in actions
            if a.annotation("feed") is None
        ]
        out["feeds"] = [
            {"name": a.name, "version": a.version, "annotations": a.annotations}
            for a in actions
            if a.annotation("feed") is not None
        ]
        return json_response(out)

    async def delete(self, request: web.Request) -> web.Response:
        """Delete a binding, or a package when it is empty (``force=true`` deletes its actions too)."""
        pkg = self.existing(request)
        force = query_bool(request.query, "force", False)
        if pkg.binding is None:
            actions = self.ctl.entities.actions_in(pkg.path)
            if actions and not force:
                n = len(actions)
                raise ControllerError(
                    Fault.CONFLICT,
                    f"Package not empty (contains {n} {'entity' if n == 1 else 'entities'}). "
                    "Set force param or delete package contents.",
                )
            for action in actions:
                self.ctl.entities.delete(action.path)
        self.ctl.entities.delete(pkg.path)
        return json_response(pkg.to_json())
