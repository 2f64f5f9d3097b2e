"""In-memory entity store of the embedded controller: actions, packages, triggers and rules.

All four share one name space per namespace, as in OpenWhisk's entity database (the document id is
``ns/[pkg/]name``); a name owned by another collection is a conflict (``Resource by this name exists but is
not in this collection.``). It lives on the server's event loop thread (no locks).
"""

from __future__ import annotations

from typing import TypeVar

from pytest_openwhisk.local.action_doc import ActionDoc
from pytest_openwhisk.local.package_doc import PackageDoc
from pytest_openwhisk.local.rule_doc import RuleDoc
from pytest_openwhisk.local.trigger_doc import TriggerDoc
from pytest_openwhisk.local.types import ControllerError, Fault

CONFORMANCE = "Resource by this name exists but is not in this collection."
Entity = ActionDoc | PackageDoc | TriggerDoc | RuleDoc
E = TypeVar("E", ActionDoc, PackageDoc, TriggerDoc, RuleDoc)


class EntityStore:
    """Entities by document id ``ns/[pkg/]name``."""

    def __init__(self) -> None:
        self._docs: dict[str, Entity] = {}

    def get(self, path: str) -> Entity | None:
        """Whatever entity is stored under ``path`` (``ns/[pkg/]name``), or None."""
        return self._docs.get(path)

    def get_action(self, path: str) -> ActionDoc | None:
        """The action under ``path``; None when absent or when the name belongs to another collection."""
        doc = self._docs.get(path)
        return doc if isinstance(doc, ActionDoc) else None

    def find(self, path: str, kind: type[E]) -> E | None:
        """The ``kind`` entity under ``path`` or None; 409 (conformance) when another collection owns it."""
        doc = self._docs.get(path)
        if doc is None:
            return None
        if not isinstance(doc, kind):
            raise ControllerError(Fault.CONFLICT, CONFORMANCE)
        return doc

    def put(self, doc: Entity) -> None:
        """Store ``doc`` under its path (replacing any previous revision)."""
        self._docs[doc.path] = doc

    def delete(self, path: str) -> Entity | None:
        """Remove and return the entity under ``path`` (None if there was none)."""
        return self._docs.pop(path, None)

    def _in(self, namespace: str, collection: str) -> list[Entity]:
        """Entities of ``collection`` under ``namespace`` (a root namespace lists its packages' too)."""
        root = "/" not in namespace
        docs = [
            d
            for d in self._docs.values()
            if d.collection == collection
            and (d.namespace == namespace or (root and d.namespace.split("/", 1)[0] == namespace))
        ]
        docs.sort(key=lambda d: d.updated, reverse=True)
        return docs

    def page(self, namespace: str, skip: int, limit: int, collection: str = "actions") -> list[Entity]:
        """``collection`` entities of ``namespace``, newest ``updated`` first, ``skip`` then ``limit``."""
        return self._in(namespace, collection)[skip : skip + limit]

    def count(self, namespace: str, skip: int, collection: str = "actions") -> int:
        """Number of ``collection`` entities of ``namespace`` after ``skip``."""
        return max(0, len(self._in(namespace, collection)) - skip)

    def actions_page(self, namespace: str, skip: int, limit: int) -> list[ActionDoc]:
        """:meth:`page` of the actions collection, typed."""
        return [d for d in self.page(namespace, skip, limit) if isinstance(d, ActionDoc)]

    def actions_in(self, package_path: str) -> list[ActionDoc]:
        """The actions inside package ``ns/pkg``, newest first."""
        return [d for d in self._in(package_path, "actions") if isinstance(d, ActionDoc)]
