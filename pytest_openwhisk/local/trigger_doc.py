"""Triggers: the document (with its linked rules), ``PUT …/triggers/{name}`` validation and create/update.

A ``feed`` annotation must name an entity path; an update keeps the trigger's rules (``WhiskTriggersApi``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from pytest_openwhisk.local.config import Limits
from pytest_openwhisk.local.entities import EntityPut, bump_patch, entity_head, is_entity_name, parse_common
from pytest_openwhisk.local.types import ControllerError, Fault

ACTIVE, INACTIVE = "active", "inactive"
_MISSING = object()


def _annotation(annotations: list[dict[str, Any]], key: str, default: Any = None) -> Any:
    for a in annotations:
        if a["key"] == key:
            return a["value"]
    return default


@dataclass
class TriggerDoc:
    """A trigger; ``rules``: ``ns/rule`` -> ``{"action": {"path", "name"}, "status"}`` (None until a rule)."""

    namespace: str
    name: str
    parameters: list[dict[str, Any]]
    version: str
    publish: bool
    annotations: list[dict[str, Any]]
    updated: int
    rules: dict[str, dict[str, Any]] | None = None
    collection = "triggers"

    @property
    def path(self) -> str:
        """``ns/name``."""
        return f"{self.namespace}/{self.name}"

    def to_json(self) -> dict[str, Any]:
        """The trigger JSON of GET/PUT/DELETE (``rules`` only once a rule was attached)."""
        out: dict[str, Any] = {
            **entity_head(self),
            "parameters": self.parameters,
            "limits": {},
            "updated": self.updated,
        }
        if self.rules is not None:
            out["rules"] = self.rules
        return out

    def summary(self) -> dict[str, Any]:
        """The ``triggers`` view summary."""
        return {**entity_head(self), "updated": self.updated}

    def active_rules(self) -> list[tuple[str, str]]:
        """``(rule path, action path)`` of the active rules."""
        return [
            (rule, f"{link['action']['path']}/{link['action']['name']}")
            for rule, link in (self.rules or {}).items()
            if link["status"] == ACTIVE
        ]

    def inactive_rules(self) -> list[tuple[str, str]]:
        """``(rule path, action path)`` of the rules linked to this trigger but disabled."""
        return [
            (rule, f"{link['action']['path']}/{link['action']['name']}")
            for rule, link in (self.rules or {}).items()
            if link["status"] != ACTIVE
        ]


def parse_trigger_put(body: Any, limits: Limits) -> EntityPut:
    """Validate a trigger PUT (a ``feed`` annotation must name an entity path)."""
    put = parse_common({} if body is None else body, limits, init_flag=False)
    feed = _annotation(put.annotations or [], "feed", _MISSING)
    if feed is not _MISSING:
        parts = feed.strip("/").split("/") if isinstance(feed, str) else []
        if not parts or not all(is_entity_name(p) for p in parts):
            raise ControllerError(Fault.BAD_REQUEST, "Feed name is not valid")
    return put


def make_trigger(put: EntityPut, namespace: str, name: str) -> TriggerDoc:
    """A new trigger."""
    return TriggerDoc(
        namespace=namespace,
        name=name,
        parameters=list(put.parameters or []),
        version=put.version or "0.0.1",
        publish=bool(put.publish),
        annotations=list(put.annotations or []),
        updated=int(time.time() * 1000),
    )


def update_trigger(put: EntityPut, old: TriggerDoc) -> TriggerDoc:
    """Merge a PUT over a trigger (version patch + 1); its rules are kept."""
    return TriggerDoc(
        namespace=old.namespace,
        name=old.name,
        parameters=list(put.parameters) if put.parameters is not None else list(old.parameters),
        version=put.version or bump_patch(old.version),
        publish=put.publish if put.publish is not None else old.publish,
        annotations=list(put.annotations) if put.annotations is not None else list(old.annotations),
        updated=int(time.time() * 1000),
        rules=old.rules,
    )
