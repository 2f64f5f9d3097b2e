"""``/api/v1/namespaces/{ns}/rules``: create/update, get, list, delete and enable/disable (``Rules.scala``).

A rule's status lives in its trigger (``rules`` map), as in OpenWhisk: a rule whose trigger is gone reads as
``inactive`` and cannot be activated.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from pytest_openwhisk.local.api_entities import CollectionApi, entity_target
from pytest_openwhisk.local.entities import fqn_json
from pytest_openwhisk.local.httpapi import (
    json_response,
    parse_json_body,
    query_bool,
    read_body,
)
from pytest_openwhisk.local.rule_doc import RULE_NEEDS_BOTH, RuleDoc, make_rule, parse_rule_put, update_rule
from pytest_openwhisk.local.trigger_doc import ACTIVE, INACTIVE, TriggerDoc
from pytest_openwhisk.local.types import ControllerError, Fault, malformed_content

NO_TRIGGER = "Only rules with existing triggers can be activated"


class RulesApi(CollectionApi[RuleDoc]):
    """Handlers of the rules collection."""

    collection = "rules"
    kind = RuleDoc

    def _trigger(self, path: str) -> TriggerDoc | None:
        doc = self.ctl.entities.get(path)
        return doc if isinstance(doc, TriggerDoc) else None

    def _status(self, rule: RuleDoc) -> str:
        trigger = self._trigger(rule.trigger)
        link = (trigger.rules or {}).get(rule.path) if trigger is not None else None
        return str(link["status"]) if link else INACTIVE

    def _link(self, trigger: TriggerDoc, rule: str, action: str | None, status: str | None) -> None:
        """Store ``trigger`` with ``rule`` linked to ``action`` in ``status`` (None: unlinked)."""
        rules = {k: v for k, v in (trigger.rules or {}).items() if k != rule}
        if action is not None and status is not None:
            rules[rule] = {"action": fqn_json(action), "status": status}
        trigger.rules = rules
        self.ctl.entities.put(trigger)

    def _check_refs(self, trigger: str, action: str) -> TriggerDoc:
        """``checkTriggerAndActionExist`` (400 naming the missing one)."""
        found = self._trigger(trigger)
        if found is None:
            raise ControllerError(Fault.BAD_REQUEST, f"trigger /{trigger} does not exist")
        if self.ctl.resolve_action(action) is None:
            raise ControllerError(Fault.BAD_REQUEST, f"action /{action} does not exist")
        return found

    async def put(self, request: web.Request) -> web.Response:
        """Create (active) or (``overwrite=true``) update a rule."""
        ns, name = entity_target(request, self.own)
        overwrite = query_bool(request.query, "overwrite", False)
        body = parse_json_body(await read_body(request, self.max_put), request.content_type)
        put, trigger, action = parse_rule_put(body, self.ctl.limits, self.own)
        path = f"{ns}/{name}"
        old = self.ctl.entities.find(path, RuleDoc)
        if old is not None and not overwrite:
            raise ControllerError(Fault.CONFLICT, "resource already exists")
        if old is None:
            if trigger is None or action is None:
                raise ControllerError(Fault.BAD_REQUEST, RULE_NEEDS_BOTH)
            target = self._check_refs(trigger, action)
            doc = make_rule(put, ns, name, trigger, action)
            self._link(target, path, action, ACTIVE)
            status = ACTIVE
        else:
            status = self._status(old)
            doc = update_rule(put, old, trigger, action)
            target = self._check_refs(doc.trigger, doc.action)
            previous = self._trigger(old.trigger)
            if previous is not None and old.trigger != doc.trigger:
                self._link(previous, path, None, None)
            self._link(target, path, doc.action, status)
        self.ctl.entities.put(doc)
        return json_response(doc.to_json(status))

    async def get(self, request: web.Request) -> web.Response:
        """The rule with its status (from its trigger)."""
        doc = self.existing(request)
        return json_response(doc.to_json(self._status(doc)))

    async def delete(self, request: web.Request) -> web.Response:
        """Delete the rule and unlink it from its trigger."""
        doc = self.existing(request)
        trigger = self._trigger(doc.trigger)
        if trigger is not None:
            self._link(trigger, doc.path, None, None)
        self.ctl.entities.delete(doc.path)
        return json_response(doc.to_json(INACTIVE))

    async def activate(self, request: web.Request) -> web.Response:
        """``{"status": "active" | "inactive"}``: 200 ``OK`` (also when already in that state)."""
        doc = self.existing(request)
        body = parse_json_body(await read_body(request, 65536), request.content_type)
        wanted = _requested_status(body)
        trigger = self._trigger(doc.trigger)
        if trigger is None and wanted == INACTIVE:  # already reads inactive: no change, 200 as OpenWhisk
            return web.Response(text="OK")
        if trigger is None:
            raise ControllerError(Fault.NOT_FOUND, NO_TRIGGER)
        if self._status(doc) != wanted:
            self._link(trigger, doc.path, doc.action, wanted)
        return web.Response(text="OK")


def _requested_status(body: Any) -> str:
    """``Status.serdesRestricted``: an object whose ``status`` is ``active`` or ``inactive``."""
    if not isinstance(body, dict):
        raise malformed_content("Object expected")
    if "status" not in body:
        raise malformed_content("key not found: status")
    value = body["status"]
    if value not in (ACTIVE, INACTIVE):
        raise malformed_content(
            f"'{value}' is not a recognized rule state, must be one of ['{ACTIVE}', '{INACTIVE}']"
        )
    return str(value)
