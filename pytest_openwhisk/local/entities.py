"""What all entities (actions, packages, triggers, rules) share: names, qualified names, common PUT fields.

Mirrors ``EntityName`` (ASCII, at most 256 characters), ``FullyQualifiedEntityName`` (``/ns/[pkg/]name``,
``_`` = the caller's namespace) and the fields every PUT body may carry (``parameters``, ``annotations``,
``version``, ``publish``), with OpenWhisk's messages for 400 and 413. Each collection's own fields, document
and create/update live in ``action_put`` + ``action_doc``, ``package_doc``, ``trigger_doc`` and ``rule_doc``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from pytest_openwhisk.local.config import Limits
from pytest_openwhisk.local.types import ControllerError, Fault, malformed_content
from pytest_openwhisk.names import ENTITY_NAME

NOT_FOUND = "The requested resource does not exist."
ENTITY_NAME_ILLEGAL = "The name of the entity contains illegal characters."
ENTITY_NAME_MAX = 256
#: ``EntityName.REGEX``; Java's ``\w`` is ASCII-only, hence ``re.ASCII``
_ENTITY_NAME = ENTITY_NAME
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
FQN_MALFORMED = (
    "requirement failed: The fully qualified name of the entity must contain at least "
    "the namespace and the name of the entity."
)


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


def resolve_name(value: str, caller_ns: str) -> str:
    """``FullyQualifiedEntityName.resolveName``: ``name``, ``pkg/name``, ``/ns/name``, ``/ns/pkg/name``."""
    segments = value.strip().strip("/").split("/")
    leading = value.strip().startswith("/")
    if not segments or not all(segments) or len(segments) > 3 or (leading and len(segments) == 1):
        raise malformed_content(FQN_MALFORMED)
    if not leading and len(segments) < 3:
        segments = [caller_ns, *segments]
    return qualified_path("/" + "/".join(segments), caller_ns)


def fqn_json(path: str) -> dict[str, str]:
    """``FullyQualifiedEntityName`` JSON of ``ns/[pkg/]name``: ``{"path", "name"}``."""
    head, _, name = path.rpartition("/")
    return {"path": head, "name": name}


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


def bump_patch(version: str) -> str:
    major, minor, patch = version.split(".")
    return f"{major}.{minor}.{int(patch) + 1}"
