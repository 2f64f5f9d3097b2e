"""Sequences (``exec.kind: sequence``): create-time checks and execution in the controller.

As in ``SequenceActions.scala``: components run one at a time, each result (object or array) becoming the
next input, merged over that component's own parameters; the first component whose response is an error
stops the sequence and its response becomes the sequence's. Component records carry ``cause`` = the
enclosing sequence's id and ``causedBy: sequence``; the sequence record lists the component ids as its
``logs`` and sums their durations. Components are not throttled individually.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from pytest_openwhisk.local import records
from pytest_openwhisk.local.action_doc import ActionDoc
from pytest_openwhisk.local.config import Limits
from pytest_openwhisk.local.entities import resolve_name
from pytest_openwhisk.local.store import Activation
from pytest_openwhisk.local.types import APPLICATION_ERROR, SUCCESS, WHISK_ERROR, ControllerError, Fault

TOO_LONG = "Too many actions in the sequence."
NO_COMPONENT = "No component specified for the sequence."
CYCLIC = "Sequence may not refer to itself."
COMPONENT_MISSING = "Sequence component does not exist."
FAILED = "Sequence failed."
log = logging.getLogger("pytest_openwhisk.local")


class SequenceHost(Protocol):
    """What running a sequence needs from the controller (which implements it; no import cycle)."""

    limits: Limits
    caller: records.Caller

    def resolve_action(self, path: str) -> ActionDoc | None:
        """The action at ``ns/[pkg/]name`` with package/binding parameters merged (None if absent)."""

    async def run_primitive(
        self,
        doc: ActionDoc,
        params: dict[str, Any] | list[Any],
        tid: str,
        activation_id: str,
        received_at: float,
        cause: str | None = None,
    ) -> Activation:
        """Run one primitive activation and store its record (never raises)."""

    def store_sequence(self, activation: Activation) -> Activation:
        """Store a finished sequence record."""


Lookup = Callable[[str], ActionDoc | None]


def _atomic_count(entities: Lookup, origin: str, components: list[str], limit: int) -> int:
    if len(components) > limit:
        raise ControllerError(Fault.BAD_REQUEST, TOO_LONG)
    total = 0
    for path in components:
        if path == origin:
            raise ControllerError(Fault.BAD_REQUEST, CYCLIC)
        doc = entities(path)
        if doc is None:
            raise ControllerError(Fault.BAD_REQUEST, COMPONENT_MISSING)
        total += _atomic_count(entities, origin, doc.components, limit) if doc.is_sequence else 1
        if total > limit:
            raise ControllerError(Fault.BAD_REQUEST, TOO_LONG)
    return total


def check_create(entities: Lookup, path: str, components: list[str], limit: int) -> None:
    """The checks of ``checkSequenceActionLimits`` for a sequence stored at ``path`` (400 on failure)."""
    if len(components) > limit:
        raise ControllerError(Fault.BAD_REQUEST, TOO_LONG)
    if not components:
        raise ControllerError(Fault.BAD_REQUEST, NO_COMPONENT)
    _atomic_count(entities, path, components, limit)


async def run(
    ctl: SequenceHost,
    doc: ActionDoc,
    payload: dict[str, Any] | list[Any],
    tid: str,
    activation_id: str,
    received_at: float,
    *,
    cause: str | None,
    depth: list[int],
) -> Activation:
    """Run sequence ``doc`` (blocking, component by component) and store its record; never raises."""
    start = records.now_ms()
    wait_ms = max(0, start - int(received_at * 1000))
    limit = ctl.limits.sequence_max_length
    component_ids: list[str] = []
    duration = 0
    status_code, result, size = SUCCESS, payload, None
    memory = doc.limits.get("memory", ctl.limits.memory_mb_default)
    value: dict[str, Any] | list[Any] = payload
    for path in doc.components:
        component = ctl.resolve_action(path)
        if component is None:
            status_code, result, size = APPLICATION_ERROR, {"error": COMPONENT_MISSING}, None
            break
        if not component.is_sequence:
            depth[0] += 1
            if depth[0] > limit:
                status_code, result, size = APPLICATION_ERROR, {"error": TOO_LONG}, None
                break
        component_id = records.new_activation_id()
        if component.is_sequence:
            activation = await run(
                ctl, component, value, tid, component_id, time.time(), cause=activation_id, depth=depth
            )
        elif component.is_conductor:
            params = {**component.run_params, **value} if isinstance(value, dict) else value
            activation = await compose(
                ctl, component, params, tid, component_id, time.time(), cause=activation_id, counts=None
            )
        else:
            params = {**component.run_params, **value} if isinstance(value, dict) else value
            activation = await ctl.run_primitive(
                component, params, tid, component_id, time.time(), cause=activation_id
            )
            memory = max(memory, component.limits.get("memory", memory))
        component_ids.append(component_id)
        duration += int(activation.record["duration"])
        response = activation.record["response"]
        status_code, result, size = activation.status_code, response["result"], response.get("size")
        if status_code != SUCCESS:
            break
        value = result
    limits = {**doc.limits, "memory": memory}
    activation = records.sequence(
        ctl.caller,
        name=doc.name,
        version=doc.version,
        path=doc.path,
        activation_id=activation_id,
        start=start,
        end=records.now_ms(),
        status_code=status_code,
        result=result,
        size=size,
        component_ids=component_ids,
        duration=duration,
        limits=limits,
        wait_ms=wait_ms,
        cause=cause,
        binding=doc.binding,
    )
    return ctl.store_sequence(activation)


async def run_guarded(
    ctl: SequenceHost,
    doc: ActionDoc,
    payload: dict[str, Any],
    tid: str,
    activation_id: str,
    received_at: float,
) -> Activation:
    """:func:`run` for a top-level sequence; an unexpected failure still ends with a stored record."""
    body = run(ctl, doc, payload, tid, activation_id, received_at, cause=None, depth=[0])
    return await _guarded(ctl, doc, body, tid, activation_id, received_at, conductor=False)


async def _guarded(
    ctl: SequenceHost,
    doc: ActionDoc,
    body: Coroutine[Any, Any, Activation],
    tid: str,
    activation_id: str,
    received_at: float,
    *,
    conductor: bool,
) -> Activation:
    """Await a top-level sequence or composition; if it raises, store a whisk-error record and return it."""
    try:
        return await body
    except BaseException as exc:
        what = "composition" if conductor else "sequence"
        log.exception("[%s] %s %s failed unexpectedly", tid, what, doc.path)
        now = records.now_ms()
        activation = records.sequence(
            ctl.caller,
            name=doc.name,
            version=doc.version,
            path=doc.path,
            activation_id=activation_id,
            start=now,
            end=now,
            status_code=WHISK_ERROR,
            result={"error": COMPOSITION_FAILED if conductor else FAILED},
            size=None,
            component_ids=[],
            duration=0,
            limits=dict(doc.limits),
            wait_ms=max(0, now - int(received_at * 1000)),
            cause=None,
            conductor=conductor,
            binding=doc.binding,
        )
        ctl.store_sequence(activation)
        if not isinstance(exc, Exception):
            raise
        return activation


# -- conductor actions (compositions) -----------------------------------------------------------------
COMPOSITION_TOO_LONG = "Too many actions in the composition."
COMPOSITION_FAILED = "Activation failure during composition."


@dataclass
class _Session:
    """One composition in progress (``PrimitiveActions.Session``); ``counts`` is shared with nested ones."""

    activation_id: str
    counts: list[int]  # [components, conductors] invoked so far
    logs: list[str] = field(default_factory=list)
    duration: int = 0
    memory: int = 0
    state: dict[str, Any] | None = None

    def account(self, activation: Activation) -> None:
        """``waitForActivation``: log the id, add the duration, keep the largest memory limit."""
        record = activation.record
        self.logs.append(record["activationId"])
        self.duration += int(record.get("duration", 0))
        for note in record["annotations"]:
            if note["key"] == "limits" and isinstance(note["value"], dict):
                self.memory = max(self.memory, int(note["value"].get("memory", 0)))


async def compose(
    ctl: SequenceHost,
    doc: ActionDoc,
    payload: dict[str, Any] | list[Any],
    tid: str,
    activation_id: str,
    received_at: float,
    *,
    cause: str | None,
    counts: list[int] | None,
) -> Activation:
    """Run conductor action ``doc`` (``PrimitiveActions.invokeComposition``) and store its record.

    The conductor returns either a final result or ``{action, params, state}``: the named action runs on
    ``params`` and the conductor runs again on its result merged with ``state``, until a result without
    ``action``, whose ``params`` (or the whole result) is the composition's. At most ``n`` components and
    ``2n + 1`` conductor runs (``n`` = the sequence length limit). The record is a sequence-like record with
    annotation ``conductor: true``; components and conductor runs have ``cause`` = its id."""
    start = records.now_ms()
    session = _Session(activation_id, counts if counts is not None else [0, 0])
    session.memory = doc.limits.get("memory", ctl.limits.memory_mb_default)
    limit = ctl.limits.sequence_max_length
    value: Any = payload
    status_code, result = SUCCESS, None
    while True:
        if session.counts[1] > 2 * limit:
            status_code, result = APPLICATION_ERROR, {"error": COMPOSITION_TOO_LONG}
            break
        params = value if isinstance(value, dict) else {}
        if session.state is not None:
            params = {**params, **session.state}
        session.counts[1] += 1
        run_id = records.new_activation_id()
        merged = {**doc.run_params, **params}
        conductor = await ctl.run_primitive(doc, merged, tid, run_id, time.time(), cause=activation_id)
        session.account(conductor)
        response = conductor.record["response"]
        output = response["result"] if isinstance(response["result"], dict) else {}
        next_params = output.get("params")
        if next_params is not None and not isinstance(next_params, dict):
            next_params = {"value": next_params}
        state = output.get("state")
        session.state = None if state is None else state if isinstance(state, dict) else {"state": state}
        if "action" not in output:
            status_code = conductor.status_code
            result = next_params if next_params is not None else response["result"]
            break
        value = await _component(ctl, session, output["action"], next_params or {}, tid, limit)
    activation = records.sequence(
        ctl.caller,
        name=doc.name,
        version=doc.version,
        path=doc.path,
        activation_id=activation_id,
        start=start,
        end=records.now_ms(),
        status_code=status_code,
        result=result,
        size=None,
        component_ids=session.logs,
        duration=session.duration,
        limits={**doc.limits, "memory": session.memory},
        wait_ms=max(0, start - int(received_at * 1000)),
        cause=cause,
        conductor=True,
        binding=doc.binding,
    )
    return ctl.store_sequence(activation)


async def _component(
    ctl: SequenceHost, session: _Session, name: Any, params: dict[str, Any], tid: str, limit: int
) -> dict[str, Any]:
    """Run the component the conductor named; its result (or the error) is the conductor's next input."""
    quoted = json.dumps(name, separators=(",", ":"), ensure_ascii=False)  # spray's compact toString
    unparsable = f"Failed to parse action name from json value {quoted} during composition."
    if not isinstance(name, str):
        return {"error": unparsable}
    try:
        path = resolve_name(name, ctl.caller.namespace)
    except ControllerError:
        return {"error": unparsable}
    if session.counts[0] >= limit:
        return {"error": COMPOSITION_TOO_LONG}
    component = ctl.resolve_action(path)
    if component is None:
        return {"error": f"Failed to resolve action with name '{path}' during composition."}
    component_id = records.new_activation_id()
    if component.is_conductor:
        activation = await compose(
            ctl,
            component,
            params,
            tid,
            component_id,
            time.time(),
            cause=session.activation_id,
            counts=session.counts,
        )
    elif component.is_sequence:
        session.counts[0] += 1
        activation = await run(
            ctl, component, params, tid, component_id, time.time(), cause=session.activation_id, depth=[0]
        )
    else:
        session.counts[0] += 1
        merged = {**component.run_params, **params}
        activation = await ctl.run_primitive(
            component, merged, tid, component_id, time.time(), cause=session.activation_id
        )
    session.account(activation)
    output = activation.record["response"]["result"]
    return output if isinstance(output, dict) else {}


async def compose_guarded(
    ctl: SequenceHost,
    doc: ActionDoc,
    payload: dict[str, Any],
    tid: str,
    activation_id: str,
    received_at: float,
) -> Activation:
    """:func:`compose` for a top-level composition; an unexpected failure still ends with a stored record."""
    body = compose(ctl, doc, payload, tid, activation_id, received_at, cause=None, counts=None)
    return await _guarded(ctl, doc, body, tid, activation_id, received_at, conductor=True)
