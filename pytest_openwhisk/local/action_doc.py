"""Action documents: one stored revision, the views derived from it (``ActionSpec``, run and init
parameters) and create/update.

Mirrors ``Actions.scala``'s make/update: version ``0.0.1`` on create and patch+1 on every update, ``exec``
annotation always, ``provide-api-key: false`` added on create, annotations merged then ``delAnnotations``
removed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from pytest_openwhisk.local.action_put import SEQUENCE, ActionPut
from pytest_openwhisk.local.config import Limits
from pytest_openwhisk.local.entities import bump_patch, entity_head, merge_params
from pytest_openwhisk.local.types import ActionSpec, ControllerError, Fault

_MISSING = object()


def is_truthy(value: Any) -> bool:
    """``Parameters.isTruthy`` for an annotation value that exists."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return len(value) > 0
    return value is not None


def env_string(value: Any) -> str:
    """How ``containerInitializer`` stringifies init parameters for the ``/init`` env."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value).decode()


def _merge_kv(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    merged = {e["key"]: e for e in old}
    for e in new:
        merged.pop(e["key"], None)
        merged[e["key"]] = e
    return list(merged.values())


def _amend(annotations: list[dict[str, Any]], kind: str, create: bool) -> list[dict[str, Any]]:
    out = list(annotations)
    if create and not any(a["key"] == "provide-api-key" for a in out):
        out.append({"key": "provide-api-key", "value": False})
    return _merge_kv(out, [{"key": "exec", "value": kind}])


@dataclass
class ActionDoc:
    """One stored action revision (the document of the entity store) plus derived, cached views."""

    namespace: str  # "guest" or "guest/pkg"
    name: str
    exec: dict[str, Any]
    parameters: list[dict[str, Any]]
    limits: dict[str, int]
    version: str
    publish: bool
    annotations: list[dict[str, Any]]
    updated: int
    revision: str = field(default_factory=lambda: uuid.uuid4().hex)
    binding: str | None = None  # invoked through this package binding (``ns/binding``), set by inherit()
    _spec: ActionSpec | None = field(default=None, repr=False)
    _params: dict[str, Any] | None = field(default=None, repr=False)
    _final: frozenset[str] | None = field(default=None, repr=False)
    _init: frozenset[str] | None = field(default=None, repr=False)
    _inherited: dict[str, ActionDoc] = field(default_factory=dict, repr=False)
    collection = "actions"

    def inherit(self, params: list[dict[str, Any]], key: str, binding: str | None = None) -> ActionDoc:
        """This action with package/binding ``params`` under its own (``WhiskAction.inherit``).

        ``key`` names the package revisions involved: the result is cached per key, so the hot path builds
        it once, and its revision differs from the bare action's (init parameters may differ)."""
        if not params and binding is None:
            return self
        cached = self._inherited.get(key)
        if cached is None:
            cached = ActionDoc(
                namespace=self.namespace,
                name=self.name,
                exec=self.exec,
                parameters=merge_params(params, self.parameters),
                limits=self.limits,
                version=self.version,
                publish=self.publish,
                annotations=self.annotations,
                updated=self.updated,
                revision=f"{self.revision}+{key}",
                binding=binding,
            )
            if len(self._inherited) > 64:
                self._inherited.clear()
            self._inherited[key] = cached
        return cached

    @property
    def path(self) -> str:
        """``guest/name`` or ``guest/pkg/name`` (the activation's ``path`` annotation, the doc id)."""
        return f"{self.namespace}/{self.name}"

    @property
    def kind(self) -> str:
        return str(self.exec["kind"])

    @property
    def is_sequence(self) -> bool:
        """A sequence (``exec.kind: sequence``)."""
        return bool(self.exec["kind"] == SEQUENCE)

    @property
    def is_conductor(self) -> bool:
        """A conductor action: a primitive with a truthy ``conductor`` annotation (a composition)."""
        return not self.is_sequence and is_truthy(self.annotation("conductor", False))

    @property
    def components(self) -> list[str]:
        """Sequence components as ``ns/[pkg/]name`` paths."""
        return [c.lstrip("/") for c in self.exec.get("components", ())]

    def annotation(self, key: str, default: Any = None) -> Any:
        for a in self.annotations:
            if a["key"] == key:
                return a["value"]
        return default

    @property
    def run_params(self) -> dict[str, Any]:
        """Stored parameters that go into ``/run`` (init-flagged ones go to the ``/init`` env)."""
        if self._params is None:
            self._params = {p["key"]: p["value"] for p in self.parameters if not p.get("init")}
        return self._params

    @property
    def init_keys(self) -> frozenset[str]:
        """Names of the init parameters (``/init`` environment, never ``/run`` arguments)."""
        if self._init is None:
            self._init = frozenset(p["key"] for p in self.parameters if p.get("init"))
        return self._init

    @property
    def final_params(self) -> frozenset[str]:
        """Parameters a request may not override (all defined ones when annotation ``final`` is ``true``)."""
        if self._final is None:
            final = self.annotation("final", False) is True  # ``annotations.getAs[Boolean]``
            self._final = frozenset(p["key"] for p in self.parameters if final and p["value"] is not None)
        return self._final

    def spec(self, limits: Limits) -> ActionSpec:
        """The immutable :class:`ActionSpec` of this revision (built once)."""
        if self._spec is None:
            root = self.namespace.split("/", 1)[0]
            provide = self.annotation("provide-api-key", _MISSING)
            self._spec = ActionSpec(
                namespace=root,
                path=self.path,
                name=self.name,
                version=self.version,
                revision=self.revision,
                kind=self.kind,
                code=str(self.exec.get("code", "")),
                binary=bool(self.exec.get("binary", False)),
                main=str(self.exec.get("main") or "main"),
                timeout_ms=self.limits.get("timeout", limits.timeout_ms_default),
                memory_mb=self.limits.get("memory", limits.memory_mb_default),
                logs_mb=self.limits.get("logs", limits.logs_mb_default),
                concurrency=self.limits.get("concurrency", limits.concurrency_default),
                init_env={p["key"]: env_string(p["value"]) for p in self.parameters if p.get("init")},
                provide_api_key=provide is _MISSING or is_truthy(provide),
                binding=self.binding,
            )
        return self._spec

    def to_json(self, code: bool = True) -> dict[str, Any]:
        """The action JSON of GET/PUT/DELETE (``code=false`` drops ``exec.code``)."""
        exec_ = self.exec if code or self.is_sequence else {k: v for k, v in self.exec.items() if k != "code"}
        return {
            "namespace": self.namespace,
            "name": self.name,
            "version": self.version,
            "exec": exec_,
            "annotations": self.annotations,
            "parameters": self.parameters,
            "limits": self.limits,
            "publish": self.publish,
            "updated": self.updated,
        }

    def summary(self) -> dict[str, Any]:
        """The list-view summary (``actions`` CouchDB view)."""
        return {
            **entity_head(self),
            "limits": self.limits,
            "exec": {"binary": bool(self.exec.get("binary", False))},
            "updated": self.updated,
        }


def default_limits(limits: Limits) -> dict[str, int]:
    return {
        "timeout": limits.timeout_ms_default,
        "memory": limits.memory_mb_default,
        "logs": limits.logs_mb_default,
        "concurrency": limits.concurrency_default,
    }


def _sequence_params(exec_: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"key": "_actions", "value": list(exec_["components"])}]


def make_action(put: ActionPut, namespace: str, name: str, limits: Limits) -> ActionDoc:
    """A new action from a PUT (``WhiskActionsApi.makeWhiskAction``)."""
    if put.exec is None:
        raise ControllerError(Fault.BAD_REQUEST, "exec undefined")
    exec_ = put.exec
    params = _sequence_params(exec_) if exec_["kind"] == SEQUENCE else list(put.parameters or [])
    return ActionDoc(
        namespace=namespace,
        name=name,
        exec=exec_,
        parameters=params,
        limits={**default_limits(limits), **(put.limits or {})},
        version=put.version or "0.0.1",
        publish=bool(put.publish) if put.publish is not None else False,
        annotations=_amend(put.annotations or [], exec_["kind"], create=True),
        updated=int(time.time() * 1000),
    )


def update_action(put: ActionPut, old: ActionDoc) -> ActionDoc:
    """Merge a PUT over an existing action (``updateWhiskAction``); a new revision."""
    if put.exec is not None:
        if put.exec["kind"] == SEQUENCE:
            params = _sequence_params(put.exec)
        elif put.parameters is not None:
            params = list(put.parameters)
        else:
            params = [] if old.is_sequence else list(old.parameters)
    else:
        params = list(old.parameters) if old.is_sequence or put.parameters is None else list(put.parameters)
    exec_ = put.exec or old.exec
    annotations = list(old.annotations)
    if put.del_annotations is not None:
        annotations = [a for a in annotations if a["key"] not in set(put.del_annotations)]
    annotations = _merge_kv(annotations, put.annotations or [])
    return ActionDoc(
        namespace=old.namespace,
        name=old.name,
        exec=exec_,
        parameters=params,
        limits={**old.limits, **(put.limits or {})},
        version=put.version or bump_patch(old.version),
        publish=put.publish if put.publish is not None else old.publish,
        annotations=_amend(annotations, exec_["kind"], create=False),
        updated=int(time.time() * 1000),
    )
