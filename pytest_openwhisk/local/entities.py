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

SEQUENCE = "sequence"
NOT_FOUND = "The requested resource does not exist."
ENTITY_NAME_ILLEGAL = "The name of the entity contains illegal characters."
ENTITY_NAME_MAX = 256
#: ``EntityName.REGEX``; Java's ``\w`` is ASCII-only, hence ``re.ASCII``
_ENTITY_NAME = re.compile(r"\A([\w]|[\w][\w@ .&-]{0,254}[\w@.&-])\Z", re.ASCII)
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
    try:
        resolved = manifest.resolve_kind(kind, kinds)
    except ValueError as exc:
        raise malformed_content(str(exc)) from None
    code = value.get("code")
    if not isinstance(code, str):
        raise malformed_content(f"'code' must be a string defined in 'exec' for '{kind}' actions")
    main = value.get("main", _MISSING)
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
    if not isinstance(body, dict):
        raise malformed_content("JSON object expected")
    put = ActionPut()
    if body.get("exec") is not None:
        put.exec = _parse_exec(body["exec"], caller_ns, kinds)
        code = put.exec.get("code")
        if code is not None:
            size = len(code.encode())
            if size > limits.code_max_bytes:
                raise ControllerError(
                    Fault.TOO_LARGE, f"exec larger than allowed: {size} > {limits.code_max_bytes} bytes."
                )
    if body.get("parameters") is not None:
        put.parameters = _key_values(body["parameters"], "parameters")
        size = json_size(put.parameters)
        if size > limits.parameter_max_bytes:
            raise ControllerError(
                Fault.TOO_LARGE,
                f"parameters larger than allowed: {size} > {limits.parameter_max_bytes} bytes.",
            )
    if body.get("annotations") is not None:
        put.annotations = _key_values(body["annotations"], "annotations")
        size = json_size(put.annotations)
        if size > limits.parameter_max_bytes:
            raise ControllerError(
                Fault.TOO_LARGE,
                f"annotations larger than allowed: {size} > {limits.parameter_max_bytes} bytes.",
            )
    if body.get("limits") is not None:
        put.limits = _check_limits(body["limits"], limits)
    if body.get("version") is not None:
        if not isinstance(body["version"], str) or not _SEMVER.match(body["version"]):
            raise malformed_content("bad semantic version")
        put.version = body["version"]
    if body.get("publish") is not None:
        if not isinstance(body["publish"], bool):
            raise malformed_content("publish malformed")
        put.publish = body["publish"]
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
    _spec: ActionSpec | None = field(default=None, repr=False)
    _params: dict[str, Any] | None = field(default=None, repr=False)
    _final: frozenset[str] | None = field(default=None, repr=False)

    @property
    def path(self) -> str:
        """``guest/name`` or ``guest/pkg/name`` (the activation's ``path`` annotation, the doc id)."""
        return f"{self.namespace}/{self.name}"

    @property
    def kind(self) -> str:
        return str(self.exec["kind"])

    @property
    def is_sequence(self) -> bool:
        return bool(self.exec["kind"] == SEQUENCE)

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
    def final_params(self) -> frozenset[str]:
        """Parameters a request may not override (all defined ones when annotation ``final`` is truthy)."""
        if self._final is None:
            final = is_truthy(self.annotation("final", False))
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
            "namespace": self.namespace,
            "name": self.name,
            "version": self.version,
            "publish": self.publish,
            "annotations": self.annotations,
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
