"""``/api/v1/namespaces/{ns}/actions``: create/update, get, list, delete and invoke (``Actions.scala``)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from aiohttp import web

from pytest_openwhisk.local import sequences
from pytest_openwhisk.local.action_doc import ActionDoc, make_action, update_action
from pytest_openwhisk.local.action_put import parse_put
from pytest_openwhisk.local.controller import Controller
from pytest_openwhisk.local.entities import check_entity_name
from pytest_openwhisk.local.httpapi import (
    NOT_FOUND,
    TID,
    Reject,
    json_response,
    list_limit,
    list_skip,
    malformed_query,
    max_body_bytes,
    namespace_of,
    parse_json_body,
    query_bool,
    raw_json_response,
    read_body,
)
from pytest_openwhisk.local.package_doc import NOT_ON_BINDING
from pytest_openwhisk.local.records import blocking_view
from pytest_openwhisk.local.store import Activation
from pytest_openwhisk.local.types import SUCCESS, WHISK_ERROR, ControllerError, Fault, malformed_content
from pytest_openwhisk.names import ACTIVATION_ID_HEADER

PREFIX = "/api/v1/namespaces/{ns}/actions"
ACTIVATION_HEADER = ACTIVATION_ID_HEADER


class ActionsApi:
    """Handlers of the actions collection."""

    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl
        self.own = ctl.config.namespace
        self.limits = ctl.limits
        self.max_wait_ms = ctl.limits.blocking_wait_ms
        self.max_put = max_body_bytes(ctl.limits)

    def routes(self) -> list[web.RouteDef]:
        one = PREFIX + "/{name}"
        packaged = PREFIX + "/{pkg}/{name}"
        return [
            web.post(one, self.invoke),
            web.get(one, self.get),
            web.put(one, self.put),
            web.delete(one, self.delete),
            web.post(packaged, self.invoke),
            web.get(packaged, self.get),
            web.put(packaged, self.put),
            web.delete(packaged, self.delete),
            web.get(PREFIX, self.list),
            web.get(PREFIX + "/", self.list),
            web.get(PREFIX + "/{pkg}/", self.list),
        ]

    def _target(self, request: web.Request, write: bool = False) -> tuple[str, str]:
        """(namespace path ``ns`` or ``ns/pkg``, entity name) of the URL, validated and authorized.

        A package in the path must exist (404); writing through a package binding is 400."""
        info = request.match_info
        name = info["name"]
        pkg = info.get("pkg")
        rest = f"{pkg}/{name}" if pkg is not None else name
        ns = namespace_of(info["ns"], self.own, rest)
        check_entity_name(name)
        if pkg is None:
            return ns, name
        check_entity_name(pkg)
        package = self.ctl.package_of(f"{ns}/{pkg}")
        if write and package.binding is not None:
            raise ControllerError(Fault.BAD_REQUEST, NOT_ON_BINDING)
        return f"{ns}/{pkg}", name

    def _doc(self, request: web.Request, write: bool = False) -> tuple[str, ActionDoc]:
        """(path, action) of the URL; reads resolve packages and bindings (parameters merged)."""
        ns, name = self._target(request, write)
        path = f"{ns}/{name}"
        self.ctl.entities.find(path, ActionDoc)  # 409 when another collection owns the name
        doc = self.ctl.entities.get_action(path) if write else self.ctl.resolve_action(path)
        if doc is None:
            raise Reject(404, NOT_FOUND)
        return path, doc

    async def get(self, request: web.Request) -> web.Response:
        _, doc = self._doc(request)
        return json_response(doc.to_json(code=query_bool(request.query, "code", True)))

    async def delete(self, request: web.Request) -> web.Response:
        path, doc = self._doc(request, write=True)
        self.ctl.entities.delete(path)
        return json_response(doc.to_json())

    async def list(self, request: web.Request) -> web.Response:
        info = request.match_info
        pkg = info.get("pkg")
        ns = namespace_of(info["ns"], self.own, pkg or "")
        if pkg is not None:
            package = self.ctl.package_of(f"{ns}/{check_entity_name(pkg)}")
            ns = package.bound_path or package.path  # a binding lists the bound package's actions
        query = request.query
        skip = list_skip(query, "actions")
        limit = list_limit(query, "actions")
        if query_bool(query, "count", False):
            return json_response({"actions": self.ctl.entities.count(ns, skip)})
        return json_response([d.summary() for d in self.ctl.entities.actions_page(ns, skip, limit)])

    async def put(self, request: web.Request) -> web.Response:
        ns, name = self._target(request, write=True)
        overwrite = query_bool(request.query, "overwrite", False)
        body = parse_json_body(await read_body(request, self.max_put), request.content_type)
        put = parse_put({} if body is None else body, self.limits, self.own, self.ctl.config.kinds)
        path = f"{ns}/{name}"
        old = self.ctl.entities.find(path, ActionDoc)
        if old is not None and not overwrite:
            raise Reject(409, "resource already exists")
        doc = update_action(put, old) if old is not None else make_action(put, ns, name, self.limits)
        if put.exec is not None and doc.is_sequence:
            sequences.check_create(
                self.ctl.resolve_action, path, doc.components, self.limits.sequence_max_length
            )
        self.ctl.entities.put(doc)
        return json_response(doc.to_json())

    def _wait_ms(self, query: Mapping[str, str]) -> int:
        raw = query.get("timeout")
        if raw is None:
            return self.max_wait_ms
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if 0 < value <= self.max_wait_ms:
            return value
        raise malformed_query("timeout", f"Timeout must be number of milliseconds up to {self.max_wait_ms}.")

    async def invoke(self, request: web.Request) -> web.Response:
        ns, name = self._target(request)
        self.ctl.admit(self.own)
        max_bytes = self.limits.payload_max_bytes
        length = request.content_length
        if length is not None and length > max_bytes:
            raise Reject(413, f"Request larger than allowed: {length} > {max_bytes} bytes.")
        query = request.query
        blocking = query_bool(query, "blocking", False)
        result_only = query_bool(query, "result", False)
        wait_ms = self._wait_ms(query)
        raw = await read_body(request, max_bytes)
        if len(raw) > max_bytes:
            raise Reject(413, f"Request larger than allowed: {len(raw)} > {max_bytes} bytes.")
        payload = parse_json_body(raw, request.content_type)
        if payload is not None and not isinstance(payload, dict):
            raise malformed_content("JSON object expected")
        self.ctl.entities.find(f"{ns}/{name}", ActionDoc)
        doc = self.ctl.resolve_action(f"{ns}/{name}")
        if doc is None:
            raise Reject(404, NOT_FOUND)
        activation_id, answer = self.ctl.start(doc, payload, request[TID], early=blocking)
        headers = {ACTIVATION_HEADER: activation_id}
        if blocking and await _finished_within(answer, wait_ms / 1000):
            activation = answer.result()
            code = activation.status_code
            status = 200 if code == SUCCESS else 500 if code == WHISK_ERROR else 502
            record = activation.record
            result = record["response"]["result"]
            if isinstance(result, list):
                return json_response(result, status, headers)
            if result_only:
                return json_response(result, status, headers)
            if doc.is_sequence or doc.is_conductor:  # logs hold activation ids
                return json_response(record, status, headers)
            if activation.body is not None and not record["logs"]:  # the stored JSON is the answer
                return raw_json_response(activation.body, status, headers)
            return json_response(blocking_view(activation), status, headers)
        return json_response({"activationId": activation_id}, 202, headers)


async def _finished_within(answer: asyncio.Future[Activation], timeout: float) -> bool:
    """Wait up to ``timeout`` s for ``answer`` (``Controller.start(..., early=True)``); whether it came.

    The wait cancels ``answer`` when it expires, which does not touch the activation: it goes on and the
    caller answers 202."""
    if not answer.done():
        timer = asyncio.get_running_loop().call_later(timeout, answer.cancel)
        try:
            await answer
        except asyncio.CancelledError:  # the wait expired, or the activation's task was cancelled
            current = asyncio.current_task()
            if current is not None and current.cancelling():  # this request itself is cancelled
                raise
        finally:
            timer.cancel()
    return answer.done() and not answer.cancelled()
