"""Action documents: validation of ``PUT …/actions/{name}`` bodies, create/update merge and JSON shapes.

Mirrors ``WhiskActionPut``/``Exec``/``ActionLimits`` deserialisation and ``Actions.scala``'s
make/update: version ``0.0.1`` on create and patch+1 on every update, ``exec`` annotation always,
``provide-api-key: false`` added on create, binary detection by ``Exec.isBinaryCode``, annotations
merged then ``delAnnotations`` removed.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from pytest_openwhisk.local import manifest
from pytest_openwhisk.local.config import Limits
from pytest_openwhisk.local.types import ActionSpec, ControllerError, Fault, malformed_content
from pytest_openwhisk.names import ENTITY_NAME

SEQUENCE = "sequence"
NOT_FOUND = "The requested resource does not exist."
ENTITY_NAME_ILLEGAL = "The name of the entity contains illegal characters."
ENTITY_NAME_MAX = 256
#: ``EntityName.REGEX``; Java's ``\w`` is ASCII-only, hence ``re.ASCII``
_ENTITY_NAME = ENTITY_NAME
_BASE64 = re.compile(r"^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)$")
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
FQN_MALFORMED = (
    "requirement failed: The fully qualified name of the entity must contain at least "
    "the namespace and the name of the entity."
)
_MISSING = object()


def is_entity_name(name: str) -> bool:
    """OpenWhisk's entity name rule (``EntityName.REGEX``: ASCII, at most 256 characters)."""
    return len(name) <= ENTITY_NAME_MAX and _ENTITY_NAME.match(name) is not None


def check_entity_name(name: str) -> str:
    """Refuse an illegal entity name with OpenWhisk's messages (400)."""
    if not is_entity_name(name):
        if len(name) > ENTITY_NAME_MAX:
            raise ControllerError(
                Fault.BAD_REQUEST, f"Name segement longer than allowed: {len(name)} > {ENTITY_NAME_MAX}."
            )
        raise ControllerError(Fault.BAD_REQUEST, ENTITY_NAME_ILLEGAL)
    return name


def too_large(what: str, size: int, allowed: int) -> ControllerError:
    """``Messages.entityTooBig`` (413)."""
    return ControllerError(Fault.TOO_LARGE, f"{what} larger than allowed: {size} > {allowed} bytes.")


def is_binary_code(code: str) -> bool:
    """``Exec.isBinaryCode``: trimmed code non-empty, length % 4 == 0, base64 alphabet and padding."""
    t = code.strip()
    return len(t) > 0 and len(t) % 4 == 0 and _BASE64.match(t) is not None


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


def json_size(entries: list[dict[str, Any]]) -> int:
    """Approximate ``Parameters.size``: key lengths plus compact JSON value lengths."""
    return sum(len(e["key"]) + len(orjson.dumps(e.get("value"))) for e in entries)


def qualified_path(name: str, caller_ns: str) -> str:
    """Parse a fully qualified entity name (``/ns/[pkg/]name``, ``_`` = caller) into ``ns/[pkg/]name``."""
    segments = [s for s in name.strip().strip("/").split("/")]
    if len(segments) < 2 or len(segments) > 3 or not all(segments):
        raise malformed_content(FQN_MALFORMED)
    if segments[0] == "_":
        segments[0] = caller_ns
    if not all(is_entity_name(s) for s in segments):
        raise malformed_content(FQN_MALFORMED)
    return "/".join(segments)


def _key_values(value: Any, what: str) -> list[dict[str, Any]]:
    """Parse a ``[{key, value[, init]}]`` array (later duplicates win, order of first appearance kept)."""
    if not isinstance(value, list):
        raise malformed_content(f"{what} malformed")
    out: dict[str, dict[str, Any]] = {}
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise malformed_content(f"{what} malformed")
        entry: dict[str, Any] = {"key": item["key"], "value": item.get("value")}
        if what == "parameters" and item.get("init") is True:
            entry["init"] = True
        out[item["key"]] = entry
    return list(out.values())


def _whole(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise malformed_content(f"{what} limit malformed")
    if isinstance(value, float) and not value.is_integer():
        raise malformed_content(f"{what} limit must be whole number")
    return int(value)


def entity_head(doc: Any) -> dict[str, Any]:
    """The fields every entity JSON and list summary starts with."""
    return {
        "namespace": doc.namespace,
        "name": doc.name,
        "version": doc.version,
        "publish": doc.publish,
        "annotations": doc.annotations,
    }


@dataclass
class ActionPut:
    """The validated fields of a PUT body; None means "absent"."""

    exec: dict[str, Any] | None = None
    parameters: list[dict[str, Any]] | None = None
    limits: dict[str, int] | None = None
    version: str | None = None
    publish: bool | None = None
    annotations: list[dict[str, Any]] | None = None
    del_annotations: list[str] | None = None


def _parse_exec(value: Any, caller_ns: str, kinds: tuple[str, ...] | None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise malformed_content("exec malformed")
    kind = value.get("kind")
    if not isinstance(kind, str):
        raise malformed_content("'kind' must be a string defined in 'exec'")
    kind = kind.strip().lower()
    if kind == SEQUENCE:
        components = value.get("components")
        if components is None:
            raise malformed_content("'components' must be defined for sequence kind")
        if not isinstance(components, list):
            raise malformed_content("'components' must be an array")
        if not all(isinstance(c, str) for c in components):
            raise malformed_content(FQN_MALFORMED)
        return {"kind": SEQUENCE, "components": ["/" + qualified_path(c, caller_ns) for c in components]}
    if kind == "blackbox":
        image = value.get("image")
        raise ControllerError(Fault.BAD_REQUEST, manifest.BLACKBOX_REFUSED.format(image=image or "(none)"))
    try:
        resolved = manifest.resolve_kind(kind, kinds)
    except ValueError as exc:
        raise malformed_content(str(exc)) from None
    code = value.get("code")
    if not isinstance(code, str):
        raise malformed_content(f"'code' must be a string defined in 'exec' for '{kind}' actions")
    main = value.get("main", _MISSING)
    if resolved in manifest.REQUIRE_MAIN and not isinstance(value.get("main"), str):
        raise malformed_content(f"'main' must be a string defined in 'exec' for '{kind}' actions")
    out: dict[str, Any] = {"kind": resolved, "code": code, "binary": is_binary_code(code)}
    if main is not _MISSING and main is not None:
        if not isinstance(main, str):
            raise malformed_content(f"if defined, 'main' be a string in 'exec' for '{kind}' actions")
        out["main"] = main
    return out


def _check_limits(value: Any, limits: Limits) -> dict[str, int]:
    if not isinstance(value, dict):
        raise malformed_content("limits malformed")
    out: dict[str, int] = {}
    for key in ("timeout", "memory", "logs", "concurrency"):
        if value.get(key) is not None:
            out[key] = _whole(value[key], "time" if key == "timeout" else key)
    checks = (
        (
            "memory",
            limits.memory_mb_min,
            limits.memory_mb_max,
            "memory size {v} MB {rel} allowed threshold of {t} MB",
        ),
        (
            "timeout",
            limits.timeout_ms_min,
            limits.timeout_ms_max,
            "duration {v} milliseconds {rel} allowed threshold of {t} milliseconds",
        ),
        ("logs", limits.logs_mb_min, limits.logs_mb_max, "log size {v} MB {rel} allowed threshold of {t} MB"),
        (
            "concurrency",
            limits.concurrency_min,
            limits.concurrency_max,
            "concurrency {v} {rel} allowed threshold of {t}",
        ),
    )
    for key, low, high, text in checks:
        v = out.get(key)
        if v is None:
            continue
        if v > high:
            raise ControllerError(Fault.BAD_REQUEST, text.format(v=v, rel="exceeds", t=high))
        if v < low:
            raise ControllerError(Fault.BAD_REQUEST, text.format(v=v, rel="below", t=low))
    return out


def parse_put(body: Any, limits: Limits, caller_ns: str, kinds: tuple[str, ...] | None = None) -> ActionPut:
    """Validate a PUT body (400 malformed / bad limits / bad kind, 413 sizes); ``kinds``: those offered."""
    common = parse_common(body, limits)
    put = ActionPut(
        parameters=common.parameters,
        annotations=common.annotations,
        version=common.version,
        publish=common.publish,
    )
    if body.get("exec") is not None:
        put.exec = _parse_exec(body["exec"], caller_ns, kinds)
        code = put.exec.get("code")
        if code is not None:
            size = len(code.encode())
            if size > limits.code_max_bytes:
                raise too_large("exec", size, limits.code_max_bytes)
    if body.get("limits") is not None:
        put.limits = _check_limits(body["limits"], limits)
    if body.get("delAnnotations") is not None:
        dels = body["delAnnotations"]
        if not isinstance(dels, list) or not all(isinstance(d, str) for d in dels):
            raise malformed_content("delAnnotations malformed")
        put.del_annotations = dels
    return put


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


def _bump_patch(version: str) -> str:
    major, minor, patch = version.split(".")
    return f"{major}.{minor}.{int(patch) + 1}"


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
        version=put.version or _bump_patch(old.version),
        publish=put.publish if put.publish is not None else old.publish,
        annotations=_amend(annotations, exec_["kind"], create=False),
        updated=int(time.time() * 1000),
    )


# -- packages, triggers, rules -------------------------------------------------------------------------
RESERVED_PACKAGE = "default"
BINDING_MISSING = "Binding references a package that does not exist."
CANNOT_BECOME_BINDING = "Resource is a package and cannot be converted into a binding."
BINDING_TO_BINDING = "Cannot bind to another package binding."
BINDING_NOT_PACKAGE = "Cannot bind to a resource that is not a package."
NOT_ON_BINDING = "Operation not permitted on package binding."
CONFORMANCE = "Resource by this name exists but is not in this collection."
RULE_NEEDS_BOTH = "rule requires a valid trigger and a valid action"
ACTIVE, INACTIVE = "active", "inactive"


@dataclass
class EntityPut:
    """The fields every entity PUT shares (None = absent): parameters, annotations, version, publish."""

    parameters: list[dict[str, Any]] | None = None
    annotations: list[dict[str, Any]] | None = None
    version: str | None = None
    publish: bool | None = None


def parse_common(body: Any, limits: Limits, *, init_flag: bool = True) -> EntityPut:
    """Validate the shared fields of a PUT body (400 malformed, 413 sizes)."""
    if not isinstance(body, dict):
        raise malformed_content("JSON object expected")
    put = EntityPut()
    if body.get("parameters") is not None:
        put.parameters = _key_values(body["parameters"], "parameters" if init_flag else "trigger parameters")
        size = json_size(put.parameters)
        if size > limits.parameter_max_bytes:
            raise too_large("parameters", size, limits.parameter_max_bytes)
    if body.get("annotations") is not None:
        put.annotations = _key_values(body["annotations"], "annotations")
        size = json_size(put.annotations)
        if size > limits.parameter_max_bytes:
            raise too_large("annotations", size, limits.parameter_max_bytes)
    if body.get("version") is not None:
        if not isinstance(body["version"], str) or not _SEMVER.match(body["version"]):
            raise malformed_content("bad semantic version")
        put.version = body["version"]
    if body.get("publish") is not None:
        if not isinstance(body["publish"], bool):
            raise malformed_content("publish malformed")
        put.publish = body["publish"]
    return put


def merge_params(lower: list[dict[str, Any]], upper: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``Parameters ++``: ``upper`` wins on equal keys (OpenWhisk keeps the first key's position)."""
    merged = {e["key"]: e for e in lower}
    merged.update({e["key"]: e for e in upper})
    return list(merged.values())


def _annotation(annotations: list[dict[str, Any]], key: str, default: Any = None) -> Any:
    for a in annotations:
        if a["key"] == key:
            return a["value"]
    return default


@dataclass
class PackageDoc:
    """A package or a package binding (``binding`` = ``{"namespace", "name"}`` of the bound package)."""

    namespace: str
    name: str
    binding: dict[str, str] | None
    parameters: list[dict[str, Any]]
    version: str
    publish: bool
    annotations: list[dict[str, Any]]
    updated: int
    revision: str = field(default_factory=lambda: uuid.uuid4().hex)
    collection = "packages"

    @property
    def path(self) -> str:
        """``ns/name`` (the document id; actions inside live under ``ns/name/action``)."""
        return f"{self.namespace}/{self.name}"

    @property
    def bound_path(self) -> str | None:
        """``ns/name`` of the package a binding refers to (None for a package)."""
        return f"{self.binding['namespace']}/{self.binding['name']}" if self.binding else None

    def to_json(self) -> dict[str, Any]:
        """The package JSON of PUT/DELETE (``binding`` is ``{}`` for a package)."""
        return {
            **entity_head(self),
            "parameters": self.parameters,
            "binding": dict(self.binding) if self.binding else {},
            "updated": self.updated,
        }

    def summary(self) -> dict[str, Any]:
        """The ``packages`` view summary (``binding`` false for a package)."""
        return {
            **entity_head(self),
            "binding": dict(self.binding) if self.binding else False,
            "updated": self.updated,
        }


def parse_package_put(body: Any, limits: Limits, caller_ns: str) -> tuple[EntityPut, dict[str, str] | None]:
    """Validate a package PUT: the shared fields and the optional ``binding`` (``_`` resolved)."""
    put = parse_common({} if body is None else body, limits)
    raw = (body or {}).get("binding")
    if raw is None or raw == {}:
        return put, None
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("name"), str)
        or not isinstance(raw.get("namespace"), str)
    ):
        raise malformed_content("binding malformed")
    ns = caller_ns if raw["namespace"] == "_" else raw["namespace"]
    if not is_entity_name(ns) or not is_entity_name(raw["name"]):
        raise malformed_content("binding malformed")
    return put, {"namespace": ns, "name": raw["name"]}


def _binding_annotation(
    annotations: list[dict[str, Any]], binding: dict[str, str] | None
) -> list[dict[str, Any]]:
    out = [a for a in annotations if a["key"] != "binding"]  # always set by the controller
    if binding:
        out.append({"key": "binding", "value": dict(binding)})
    return out


def make_package(put: EntityPut, binding: dict[str, str] | None, namespace: str, name: str) -> PackageDoc:
    """A new package or binding (``WhiskPackagesApi.create``)."""
    return PackageDoc(
        namespace=namespace,
        name=name,
        binding=binding,
        parameters=list(put.parameters or []),
        version=put.version or "0.0.1",
        publish=bool(put.publish),
        annotations=_binding_annotation(put.annotations or [], binding),
        updated=int(time.time() * 1000),
    )


def update_package(put: EntityPut, binding: dict[str, str] | None, old: PackageDoc) -> PackageDoc:
    """Merge a PUT over a package (absent fields kept, version patch + 1)."""
    if binding is not None and old.binding is None:
        raise ControllerError(Fault.CONFLICT, CANNOT_BECOME_BINDING)
    new_binding = binding or old.binding
    return PackageDoc(
        namespace=old.namespace,
        name=old.name,
        binding=new_binding,
        parameters=list(put.parameters) if put.parameters is not None else list(old.parameters),
        version=put.version or _bump_patch(old.version),
        publish=put.publish if put.publish is not None else old.publish,
        annotations=_binding_annotation(
            put.annotations if put.annotations is not None else old.annotations, new_binding
        ),
        updated=int(time.time() * 1000),
    )


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
        version=put.version or _bump_patch(old.version),
        publish=put.publish if put.publish is not None else old.publish,
        annotations=list(put.annotations) if put.annotations is not None else list(old.annotations),
        updated=int(time.time() * 1000),
        rules=old.rules,
    )


def fqn_json(path: str) -> dict[str, str]:
    """``FullyQualifiedEntityName`` JSON of ``ns/[pkg/]name``: ``{"path", "name"}``."""
    head, _, name = path.rpartition("/")
    return {"path": head, "name": name}


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


def resolve_name(value: str, caller_ns: str) -> str:
    """``FullyQualifiedEntityName.resolveName``: ``name``, ``pkg/name``, ``/ns/name``, ``/ns/pkg/name``."""
    segments = value.strip().strip("/").split("/")
    leading = value.strip().startswith("/")
    if not segments or not all(segments) or len(segments) > 3 or (leading and len(segments) == 1):
        raise malformed_content(FQN_MALFORMED)
    if not leading and len(segments) < 3:
        segments = [caller_ns, *segments]
    return qualified_path("/" + "/".join(segments), caller_ns)


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
        version=put.version or _bump_patch(old.version),
        publish=put.publish if put.publish is not None else old.publish,
        annotations=list(put.annotations) if put.annotations is not None else list(old.annotations),
        updated=int(time.time() * 1000),
    )


Entity = ActionDoc | PackageDoc | TriggerDoc | RuleDoc
