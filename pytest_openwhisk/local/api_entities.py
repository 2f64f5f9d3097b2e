"""What the packages, triggers and rules collections share: URL parsing, lookup, routes and listing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from aiohttp import web

from pytest_openwhisk.local.controller import Controller
from pytest_openwhisk.local.entities import NOT_FOUND, check_entity_name
from pytest_openwhisk.local.httpapi import (
    json_response,
    list_limit,
    list_skip,
    max_body_bytes,
    namespace_of,
    query_bool,
)
from pytest_openwhisk.local.package_doc import PackageDoc
from pytest_openwhisk.local.rule_doc import RuleDoc
from pytest_openwhisk.local.trigger_doc import TriggerDoc
from pytest_openwhisk.local.types import ControllerError, Fault

D = TypeVar("D", PackageDoc, TriggerDoc, RuleDoc)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def entity_target(request: web.Request, own: str) -> tuple[str, str]:
    """(namespace, entity name) of a ``…/{collection}/{name}`` URL, validated and authorized."""
    name = request.match_info["name"]
    ns = namespace_of(request.match_info["ns"], own, name)
    return ns, check_entity_name(name)


class CollectionApi(Generic[D]):
    """One entity collection under ``/api/v1/namespaces/{ns}/<collection>``."""

    collection: str
    kind: type[D]

    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl
        self.own = ctl.config.namespace
        self.max_put = max_body_bytes(ctl.limits)

    def routes(self) -> list[web.RouteDef]:
        """GET/PUT/DELETE one entity (POST when the collection has :meth:`activate`), GET the list."""
        prefix = f"/api/v1/namespaces/{{ns}}/{self.collection}"
        one = prefix + "/{name}"
        routes = [
            web.get(one, self.get),
            web.put(one, self.put),
            web.delete(one, self.delete),
            web.get(prefix, self.list),
            web.get(prefix + "/", self.list),
        ]
        activate: Handler | None = getattr(self, "activate", None)
        if activate is not None:
            routes.insert(0, web.post(one, activate))
        return routes

    def existing(self, request: web.Request) -> D:
        """The entity the URL names (404 when absent, 409 when another collection owns the name)."""
        ns, name = entity_target(request, self.own)
        doc = self.ctl.entities.find(f"{ns}/{name}", self.kind)
        if doc is None:
            raise ControllerError(Fault.NOT_FOUND, NOT_FOUND)
        return doc

    def summary(self, doc: D) -> dict[str, object]:
        """A list entry."""
        return doc.summary() if not isinstance(doc, RuleDoc) else doc.to_json()

    async def get(self, request: web.Request) -> web.StreamResponse:
        """The entity."""
        raise NotImplementedError

    async def put(self, request: web.Request) -> web.StreamResponse:
        """Create or update the entity."""
        raise NotImplementedError

    async def delete(self, request: web.Request) -> web.StreamResponse:
        """Delete the entity."""
        raise NotImplementedError

    async def list(self, request: web.Request) -> web.Response:
        """Summaries newest first; ``limit``, ``skip``, ``count`` as for actions."""
        ns = namespace_of(request.match_info["ns"], self.own)
        query = request.query
        skip = list_skip(query, self.collection)
        limit = list_limit(query, self.collection)
        if query_bool(query, "count", False):
            return json_response({self.collection: self.ctl.entities.count(ns, skip, self.collection)})
        docs = self.ctl.entities.page(ns, skip, limit, self.collection)
        return json_response([self.summary(d) for d in docs if isinstance(d, self.kind)])
