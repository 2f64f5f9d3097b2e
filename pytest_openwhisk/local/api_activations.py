"""``/api/v1/namespaces/{ns}/activations``: list, get, ``/result`` and ``/logs`` (``Activations.scala``)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from aiohttp import web

from pytest_openwhisk.local.controller import Controller
from pytest_openwhisk.local.entities import is_entity_name
from pytest_openwhisk.local.httpapi import (
    NOT_FOUND,
    Reject,
    json_response,
    list_limit,
    list_skip,
    malformed_query,
    namespace_of,
    query_bool,
    raw_json_response,
)
from pytest_openwhisk.local.store import Stored

PREFIX = "/api/v1/namespaces/{ns}/activations"
_HEX = re.compile(r"\A[0-9a-f]{32}\Z")
DOCS_WITH_COUNT = "The parameter 'docs' is not permitted with 'count'."


def check_activation_id(value: str) -> str:
    """``ActivationId.parse``: 32 lowercase hex characters."""
    if len(value) != 32:
        raise Reject(400, f"Activation id length is {len(value)} but must be 32.")
    if not _HEX.match(value):
        raise Reject(400, "The activation id is not valid.")
    return value


def _epoch(query: Mapping[str, str], key: str) -> int | None:
    raw = query.get(key)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise malformed_query(key, f"Parameter is not a valid value for epoch seconds: {raw}") from None


def _name_filter(query: Mapping[str, str]) -> str | None:
    raw = query.get("name")
    if raw is None or not raw.strip():
        return None
    segments = raw.strip("/").split("/")
    if len(segments) > 2 or not all(is_entity_name(s) for s in segments):
        raise malformed_query(
            "name", f"Parameter may be a 'simple' name or 'package-name/simple' name: {raw}"
        )
    return "/".join(segments)


class ActivationsApi:
    """Handlers of the activations collection (GET only)."""

    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl
        self.own = ctl.config.namespace

    def routes(self) -> list[web.RouteDef]:
        one = PREFIX + "/{id}"
        return [
            web.get(PREFIX, self.list),
            web.get(PREFIX + "/", self.list),
            web.get(one, self.get),
            web.get(one + "/", self.get),
            web.get(one + "/result", self.result),
            web.get(one + "/logs", self.logs),
        ]

    def _activation(self, request: web.Request) -> Stored:
        activation_id = request.match_info["id"]
        ns = namespace_of(request.match_info["ns"], self.own, activation_id)
        check_activation_id(activation_id)
        found = self.ctl.activations.get(ns, activation_id)
        if found is None:
            raise Reject(404, NOT_FOUND)
        return found

    async def get(self, request: web.Request) -> web.Response:
        await self.ctl.settle()
        return raw_json_response(self._activation(request).body)

    async def result(self, request: web.Request) -> web.Response:
        await self.ctl.settle()
        return json_response(self._activation(request).record()["response"])

    async def logs(self, request: web.Request) -> web.Response:
        await self.ctl.settle()
        return json_response({"logs": self._activation(request).record()["logs"]})

    async def list(self, request: web.Request) -> web.Response:
        await self.ctl.settle()
        ns = namespace_of(request.match_info["ns"], self.own)
        query = request.query
        skip = list_skip(query, "activations")
        limit = list_limit(query, "activations")
        count = query_bool(query, "count", False)
        docs = query_bool(query, "docs", False)
        name = _name_filter(query)
        since, upto = _epoch(query, "since"), _epoch(query, "upto")
        store = self.ctl.activations
        if count and docs:
            raise Reject(400, DOCS_WITH_COUNT)
        if count:
            return json_response(
                {"activations": store.count(ns, name=name, skip=skip, since=since, upto=upto)}
            )
        found = store.query(ns, name=name, skip=skip, limit=limit, since=since, upto=upto)
        if docs:
            return raw_json_response(b"[" + b",".join(a.body for a in found) + b"]")
        return json_response([a.summary() for a in found])
