"""The object store of the Kubernetes API stand-in: resources, label selectors, merge patches."""

from __future__ import annotations

import copy
import itertools
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

#: kind -> (API prefix, plural, namespaced) for every kind the chart and our backends use
KINDS: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("/api/v1", "namespaces", False),
    "Node": ("/api/v1", "nodes", False),
    "Pod": ("/api/v1", "pods", True),
    "Service": ("/api/v1", "services", True),
    "ConfigMap": ("/api/v1", "configmaps", True),
    "Secret": ("/api/v1", "secrets", True),
    "ServiceAccount": ("/api/v1", "serviceaccounts", True),
    "PersistentVolumeClaim": ("/api/v1", "persistentvolumeclaims", True),
    "Deployment": ("/apis/apps/v1", "deployments", True),
    "StatefulSet": ("/apis/apps/v1", "statefulsets", True),
    "DaemonSet": ("/apis/apps/v1", "daemonsets", True),
    "Job": ("/apis/batch/v1", "jobs", True),
    "NetworkPolicy": ("/apis/networking.k8s.io/v1", "networkpolicies", True),
    "Ingress": ("/apis/networking.k8s.io/v1", "ingresses", True),
    "PodDisruptionBudget": ("/apis/policy/v1", "poddisruptionbudgets", True),
    "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
    "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "PodSecurityPolicy": ("/apis/policy/v1beta1", "podsecuritypolicies", False),
}
BY_PLURAL = {plural: kind for kind, (_, plural, _) in KINDS.items()}
Key = tuple[str, str, str]  # (kind, namespace or "", name)
_TERM = re.compile(r"^\s*(!?)([\w./-]+)\s*(?:(==|=|!=)\s*([\w./-]*)|\s+(in|notin)\s+\(([^)]*)\))?\s*$")


def split_selector(selector: str) -> list[str]:
    """Terms of a label selector (commas inside ``in (...)`` kept)."""
    terms, depth, current = [], 0, ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    return [t for t in [*terms, current] if t.strip()]


def matches(labels: dict[str, str], selector: str) -> bool:
    """Kubernetes label selector semantics (=, ==, !=, in, notin, exists, !exists)."""
    for term in split_selector(selector or ""):
        found = _TERM.match(term)
        if not found:
            raise ValueError(f"unparsable label selector term {term!r}")
        negate, key, op, value, set_op, values = found.groups()
        if op in ("=", "=="):
            ok = labels.get(key) == value
        elif op == "!=":
            ok = labels.get(key) != value
        elif set_op:
            options = {v.strip() for v in values.split(",")}
            ok = (labels.get(key) in options) if set_op == "in" else (labels.get(key) not in options)
        else:
            ok = (key in labels) != bool(negate)
        if not ok:
            return False
    return True


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class Store:
    """Objects by (kind, namespace, name) with resource versions and UIDs."""

    def __init__(self) -> None:
        self.objects: dict[Key, dict[str, Any]] = {}
        self._version = itertools.count(1)

    def stamp(self, obj: dict[str, Any], kind: str, namespace: str) -> dict[str, Any]:
        """Fill kind/apiVersion, namespace, uid, resourceVersion, creationTimestamp, generation."""
        prefix, _, namespaced = KINDS[kind]
        obj["kind"] = kind
        obj["apiVersion"] = prefix.removeprefix("/api/").removeprefix("/apis/")
        meta = obj.setdefault("metadata", {})
        if namespaced:
            meta["namespace"] = namespace
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        meta.setdefault("labels", {})
        meta["resourceVersion"] = str(next(self._version))
        return obj

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The stored object or None."""
        return self.objects.get((kind, namespace if KINDS[kind][2] else "", name))

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create or replace (spec changes bump ``metadata.generation``; status is kept on replace)."""
        kind, meta = obj["kind"], obj["metadata"]
        namespace = meta.get("namespace", "") if KINDS[kind][2] else ""
        key = (kind, namespace, meta["name"])
        old = self.objects.get(key)
        if old is not None:
            meta["uid"] = old["metadata"]["uid"]
            meta["creationTimestamp"] = old["metadata"]["creationTimestamp"]
            generation = int(old["metadata"].get("generation", 1))
            if old.get("spec") != obj.get("spec"):
                generation += 1
            meta["generation"] = generation
            if "status" not in obj and "status" in old:
                obj["status"] = old["status"]
        else:
            meta.setdefault("generation", 1)
        self.stamp(obj, kind, namespace)
        self.objects[key] = obj
        return obj

    def delete(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """Remove and return the object (None when absent)."""
        return self.objects.pop((kind, namespace if KINDS[kind][2] else "", name), None)

    def list(self, kind: str, namespace: str | None = None, selector: str = "") -> list[dict[str, Any]]:
        """Objects of ``kind`` (in ``namespace`` unless None) matching ``selector``."""
        return [
            obj
            for (k, ns, _), obj in sorted(self.objects.items())
            if k == kind
            and (namespace is None or ns == namespace)
            and matches(obj["metadata"].get("labels") or {}, selector)
        ]

    def all(self, kind: str) -> Iterator[dict[str, Any]]:
        """Every object of ``kind``."""
        return iter(self.list(kind))
