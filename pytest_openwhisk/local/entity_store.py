"""In-memory entity store of the embedded controller (actions, packages, triggers, rules).

It lives on the server's event loop thread (no locks).
"""

from __future__ import annotations

from pytest_openwhisk.local.entities import ActionDoc


class EntityStore:
    """Actions by document id ``ns/[pkg/]name``; packages are implicit (a path prefix)."""

    def __init__(self) -> None:
        self._docs: dict[str, ActionDoc] = {}

    def get(self, path: str) -> ActionDoc | None:
        """The action stored under ``path`` (``ns/[pkg/]name``), or None."""
        return self._docs.get(path)

    def put(self, doc: ActionDoc) -> None:
        """Store ``doc`` under its path (replacing any previous revision)."""
        self._docs[doc.path] = doc

    def delete(self, path: str) -> ActionDoc | None:
        """Remove and return the action under ``path`` (None if there was none)."""
        return self._docs.pop(path, None)

    def _in(self, namespace: str) -> list[ActionDoc]:
        """Actions listed under ``namespace``: a root namespace lists its packages' actions too."""
        docs = [
            d
            for d in self._docs.values()
            if d.namespace == namespace
            or ("/" not in namespace and d.namespace.split("/", 1)[0] == namespace)
        ]
        docs.sort(key=lambda d: d.updated, reverse=True)
        return docs

    def page(self, namespace: str, skip: int, limit: int) -> list[ActionDoc]:
        """Actions of ``namespace``, newest ``updated`` first, after ``skip``, at most ``limit``."""
        return self._in(namespace)[skip : skip + limit]

    def count(self, namespace: str, skip: int) -> int:
        """Number of actions of ``namespace`` after ``skip``."""
        return max(0, len(self._in(namespace)) - skip)
