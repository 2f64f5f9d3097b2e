"""``/api/v1/namespaces/{ns}/triggers``: create/update, get, list, delete and fire (``Triggers.scala``)."""

from __future__ import annotations

from aiohttp import web

from pytest_openwhisk.local.api_entities import CollectionApi, entity_target
from pytest_openwhisk.local.entities import NOT_FOUND
from pytest_openwhisk.local.httpapi import (
    TID,
    json_response,
    parse_json_body,
    query_bool,
    read_body,
    request_headers,
)
from pytest_openwhisk.local.trigger_doc import TriggerDoc, make_trigger, parse_trigger_put, update_trigger
from pytest_openwhisk.local.types import ControllerError, Fault, malformed_content
from pytest_openwhisk.names import ACTIVATION_ID_HEADER

ACTIVATION_HEADER = ACTIVATION_ID_HEADER


class TriggersApi(CollectionApi[TriggerDoc]):
    """Handlers of the triggers collection."""

    collection = "triggers"
    kind = TriggerDoc

    async def put(self, request: web.Request) -> web.Response:
        """Create or (``overwrite=true``) update a trigger (its rules are kept)."""
        ns, name = entity_target(request, self.own)
        overwrite = query_bool(request.query, "overwrite", False)
        body = parse_json_body(await read_body(request, self.max_put), request.content_type)
        put = parse_trigger_put(body, self.ctl.limits)
        old = self.ctl.entities.find(f"{ns}/{name}", TriggerDoc)
        if old is not None and not overwrite:
            raise ControllerError(Fault.CONFLICT, "resource already exists")
        doc = update_trigger(put, old) if old is not None else make_trigger(put, ns, name)
        self.ctl.entities.put(doc)
        return json_response(doc.to_json())

    async def get(self, request: web.Request) -> web.Response:
        """The trigger, with its rules."""
        return json_response(self.existing(request).to_json())

    async def delete(self, request: web.Request) -> web.Response:
        """Delete the trigger (its rules stay, inactive, as in OpenWhisk)."""
        doc = self.existing(request)
        self.ctl.entities.delete(doc.path)
        return json_response(doc.to_json())

    async def activate(self, request: web.Request) -> web.Response:
        """Fire: 202 ``{activationId}`` (the trigger's record), or 204 when no rule is active."""
        ns, name = entity_target(request, self.own)
        self.ctl.admit_fire(self.own)  # charged before the lookup, as OpenWhisk's entitlement check is
        limit = self.ctl.limits.payload_max_bytes
        raw = await read_body(request, limit)
        if len(raw) > limit:
            raise ControllerError(
                Fault.TOO_LARGE, f"Request larger than allowed: {len(raw)} > {limit} bytes."
            )
        payload = parse_json_body(raw, request.content_type)
        if payload is not None and not isinstance(payload, dict):
            raise malformed_content("JSON object expected")
        trigger = self.ctl.entities.find(f"{ns}/{name}", TriggerDoc)
        if trigger is None:
            raise ControllerError(Fault.NOT_FOUND, NOT_FOUND)
        activation_id = self.ctl.fire(trigger, payload, request_headers(request), request[TID])
        if activation_id is None:
            return web.Response(status=204)
        return json_response({"activationId": activation_id}, 202, {ACTIVATION_HEADER: activation_id})
