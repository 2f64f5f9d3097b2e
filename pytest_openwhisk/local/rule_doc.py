"""Rules: the document linking a trigger to an action, ``PUT …/rules/{name}`` validation and create/update.

``trigger`` and ``action`` are stored as ``ns/[pkg/]name`` and shown as ``{"path", "name"}``
(``WhiskRuleResponse``); a rule's status lives in its trigger (``trigger_doc``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from pytest_openwhisk.local.config import Limits
from pytest_openwhisk.local.entities import (
    EntityPut,
    bump_patch,
    fqn_json,
    parse_common,
    qualified_path,
    resolve_name,
)
from pytest_openwhisk.local.types import malformed_content

RULE_NEEDS_BOTH = "rule requires a valid trigger and a valid action"


@dataclass
class RuleDoc:
    """A rule linking ``trigger`` to ``action`` (both ``ns/[pkg/]name``); its status lives in the trigger."""

    namespace: str
    name: str
    trigger: str
    action: str
    version: str
    publish: bool
    annotations: list[dict[str, Any]]
    updated: int
    collection = "rules"

    @property
    def path(self) -> str:
        """``ns/name``."""
        return f"{self.namespace}/{self.name}"

    def to_json(self, status: str | None = None) -> dict[str, Any]:
        """The rule JSON (``WhiskRuleResponse`` with ``status``; the stored document without)."""
        out: dict[str, Any] = {"namespace": self.namespace, "name": self.name}
        if status is not None:
            out["status"] = status
        out.update(
            {
                "trigger": fqn_json(self.trigger),
                "action": fqn_json(self.action),
                "version": self.version,
                "publish": self.publish,
                "annotations": self.annotations,
                "updated": self.updated,
            }
        )
        return out


def parse_rule_put(body: Any, limits: Limits, caller_ns: str) -> tuple[EntityPut, str | None, str | None]:
    """Validate a rule PUT: shared fields, ``trigger`` and ``action`` as ``ns/[pkg/]name`` (None: absent)."""
    put = parse_common({} if body is None else body, limits)
    refs: list[str | None] = []
    for key in ("trigger", "action"):
        value = (body or {}).get(key)
        if value is None:
            refs.append(None)
        elif (
            isinstance(value, dict)
            and isinstance(value.get("path"), str)
            and isinstance(value.get("name"), str)
        ):
            refs.append(qualified_path(f"/{value['path']}/{value['name']}", caller_ns))
        elif isinstance(value, str):
            refs.append(resolve_name(value, caller_ns))
        else:
            raise malformed_content("fully qualified name malformed")
    return put, refs[0], refs[1]


def make_rule(put: EntityPut, namespace: str, name: str, trigger: str, action: str) -> RuleDoc:
    """A new rule."""
    return RuleDoc(
        namespace=namespace,
        name=name,
        trigger=trigger,
        action=action,
        version=put.version or "0.0.1",
        publish=bool(put.publish),
        annotations=list(put.annotations or []),
        updated=int(time.time() * 1000),
    )


def update_rule(put: EntityPut, old: RuleDoc, trigger: str | None, action: str | None) -> RuleDoc:
    """Merge a PUT over a rule (version patch + 1)."""
    return RuleDoc(
        namespace=old.namespace,
        name=old.name,
        trigger=trigger or old.trigger,
        action=action or old.action,
        version=put.version or bump_patch(old.version),
        publish=put.publish if put.publish is not None else old.publish,
        annotations=list(put.annotations) if put.annotations is not None else list(old.annotations),
        updated=int(time.time() * 1000),
    )
