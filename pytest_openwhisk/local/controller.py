"""The controller's invocation core: throttles, parameter merge, invoker call, records, metrics.

Every accepted invocation runs as its own task and always ends with a stored activation record, also
when the invoker raises unexpectedly (whisk internal error) or the HTTP client went away; a blocking
request only *waits* for that task (up to its timeout, then 202 while the activation continues).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Any

import orjson

from pytest_openwhisk.local import records, sequences
from pytest_openwhisk.local.action_doc import ActionDoc
from pytest_openwhisk.local.config import LocalConfig
from pytest_openwhisk.local.entities import NOT_FOUND, merge_params
from pytest_openwhisk.local.entity_store import EntityStore
from pytest_openwhisk.local.metrics import Metrics
from pytest_openwhisk.local.package_doc import PackageDoc
from pytest_openwhisk.local.records import Caller
from pytest_openwhisk.local.store import Activation, ActivationStore, filter_key
from pytest_openwhisk.local.throttle import Throttle
from pytest_openwhisk.local.trigger_doc import TriggerDoc
from pytest_openwhisk.local.types import (
    APPLICATION_ERROR,
    SUCCESS,
    WHISK_ERROR,
    ControllerError,
    Fault,
    InvokerProtocol,
    RunOutcome,
    RunRequest,
)

log = logging.getLogger("pytest_openwhisk.local")
SHUTTING_DOWN = "The embedded OpenWhisk is shutting down; no new activations are accepted."
PARAMETERS_NOT_ALLOWED = "Request defines parameters that are not allowed (e.g., reserved properties)."
SETTLE_S = 10.0  # a read waits at most this long for records given early (logs wait at most 2 s idle)


def _settle_answer(answer: asyncio.Future[Activation], task: asyncio.Task[Activation]) -> None:
    """The activation's task ended and its answer was not given early (a failure, a sequence): its result."""
    if answer.done():
        return
    if task.cancelled():
        answer.cancel()
    elif (exc := task.exception()) is not None:
        answer.set_exception(exc)
    else:
        answer.set_result(task.result())


class Controller:
    """State of one embedded controller: stores, throttles, metrics and the invoker it feeds."""

    def __init__(self, config: LocalConfig, invoker: InvokerProtocol) -> None:
        self.config = config
        self.limits = config.limits
        self.invoker = invoker
        self.caller = Caller(config.namespace, config.subject)
        self.entities = EntityStore()
        self.activations = ActivationStore(config.activation_store)
        self.throttle = Throttle(self.limits.invocations_per_minute, self.limits.concurrent_invocations)
        self.fire_throttle = Throttle(self.limits.fires_per_minute, 0)  # firesPerMinute (rate only)
        self.metrics = Metrics(self._pool_stats, self.throttle.total_inflight)
        self._tasks: set[asyncio.Task[Activation]] = set()
        self._early: set[asyncio.Task[Activation]] = set()  # answered early, record not stored yet
        self.closing = False  # set at shutdown: new invocations are refused with 503

    def _pool_stats(self) -> dict[str, Any]:
        try:
            return self.invoker.stats()
        except Exception:  # a scrape must not fail because the pool is stopping
            log.exception("invoker.stats() failed")
            return {}

    # -- admission ---------------------------------------------------------------------------------
    def admit(self, namespace: str) -> None:
        """Charge the throttles for one invocation request (429 with OpenWhisk's messages)."""
        if self.closing:
            raise ControllerError(Fault.UNAVAILABLE, SHUTTING_DOWN)
        rejected = self.throttle.check(namespace)
        if rejected is not None:
            self.metrics.throttled(namespace, rejected[0])
            raise ControllerError(Fault.THROTTLED, rejected[1])

    @staticmethod
    def merge_params(doc: ActionDoc, payload: dict[str, Any] | None) -> dict[str, Any]:
        """Stored params <- request body (body wins), refusing overrides of final params.

        Keys of init parameters never reach ``/run`` (``ContainerProxy.partitionArguments``)."""
        stored = doc.run_params
        if not payload:
            return dict(stored) if stored else {}
        if doc.final_params and not doc.final_params.isdisjoint(payload):
            raise ControllerError(Fault.BAD_REQUEST, PARAMETERS_NOT_ALLOWED)
        if doc.init_keys and not doc.init_keys.isdisjoint(payload):
            payload = {k: v for k, v in payload.items() if k not in doc.init_keys}
        if not stored:
            return payload
        return {**stored, **payload}

    # -- packages ------------------------------------------------------------------------------------
    def package_of(self, path: str) -> PackageDoc:
        """The package ``ns/pkg`` (404 when absent, 409 when the name is another entity)."""
        pkg = self.entities.find(path, PackageDoc)
        if pkg is None:
            raise ControllerError(Fault.NOT_FOUND, NOT_FOUND)
        return pkg

    def resolve_package(self, path: str) -> tuple[PackageDoc, list[dict[str, Any]], str]:
        """(the real package, its parameters with a binding's layered on top, revision key) of ``ns/pkg``.

        ``WhiskPackage.resolveBinding(mergeParameters = true)``: a binding's parameters override the bound
        package's. 404 when the package, or the package a binding refers to, does not exist."""
        pkg = self.package_of(path)
        if pkg.bound_path is None:
            return pkg, pkg.parameters, pkg.revision
        real = self.entities.get(pkg.bound_path)
        if not isinstance(real, PackageDoc) or real.binding is not None:
            raise ControllerError(Fault.NOT_FOUND, NOT_FOUND)
        return real, merge_params(real.parameters, pkg.parameters), f"{real.revision}.{pkg.revision}"

    def resolve_action(self, path: str) -> ActionDoc | None:
        """The action at ``ns/[pkg/]name``, package/binding parameters merged under its own; None if absent.

        ``WhiskAction.resolveActionAndMergeParameters``; a binding's actions are the bound package's."""
        ns_pkg, _, name = path.rpartition("/")
        if "/" not in ns_pkg:
            return self.entities.get_action(path)
        try:
            real, params, key = self.resolve_package(ns_pkg)
        except ControllerError:
            return None
        action = self.entities.get_action(f"{real.path}/{name}")
        if action is None:
            return None
        return action.inherit(params, key, None if real.path == ns_pkg else ns_pkg)

    # -- triggers --------------------------------------------------------------------------------------
    def admit_fire(self, namespace: str) -> None:
        """Charge the ``firesPerMinute`` throttle for one fire request (429, OpenWhisk's message)."""
        if self.closing:
            raise ControllerError(Fault.UNAVAILABLE, SHUTTING_DOWN)
        message = self.fire_throttle.charge_rate(namespace)
        if message is not None:
            self.metrics.throttled(namespace, "TimedRateLimit")
            raise ControllerError(Fault.THROTTLED, message)

    def fire(
        self, trigger: TriggerDoc, payload: dict[str, Any] | None, headers: dict[str, str], tid: str
    ) -> str | None:
        """Fire ``trigger``: invoke the action of every active rule; None when it has no active rule.

        As ``WhiskTriggersApi.activate``: the arguments are the trigger's parameters <- ``__ow_headers`` and
        the payload; each rule's action is invoked like a non-blocking ``POST …/actions`` (throttled, final
        parameters checked); the trigger's own record (result = payload, no ``end``) lists one JSON line per
        rule in its ``logs`` (``statusCode``, ``success``, ``activationId`` or ``error``, ``rule``,
        ``action``)."""
        rules = trigger.active_rules()
        if not rules:
            return None
        activation_id = records.new_activation_id()
        start = records.now_ms()
        stored = {p["key"]: p["value"] for p in trigger.parameters}
        args = {**stored, "__ow_headers": headers, **(payload or {})}
        logs = [self._rule_activation(rule, action, args, tid) for rule, action in rules]
        logs += [  # ``activateRules`` also logs every inactive rule of the trigger (not invoked)
            orjson.dumps(
                {
                    "statusCode": APPLICATION_ERROR,
                    "success": False,
                    "error": f"Rule '{rule}' is inactive, action '{action}' was not activated.",
                    "rule": rule,
                    "action": action,
                }
            ).decode()
            for rule, action in trigger.inactive_rules()
        ]
        ns = self.caller.namespace
        record: dict[str, Any] = {
            "namespace": ns,
            "name": trigger.name,
            "version": trigger.version,
            "subject": self.caller.subject,
            "activationId": activation_id,
            "start": start,
            "response": records.response_json(SUCCESS, payload if payload is not None else {}),
            "logs": logs,
            "annotations": [],
            "publish": False,
        }
        self.activations.add(Activation(record, SUCCESS, filter_key(ns, trigger.name, trigger.path)))
        return activation_id

    def _rule_activation(self, rule: str, action: str, args: dict[str, Any], tid: str) -> str:
        """Invoke ``action`` for ``rule`` (non-blocking) and describe the outcome as OpenWhisk logs it."""
        result: dict[str, Any]
        try:
            self.admit(self.caller.namespace)
            doc = self.resolve_action(action)
            if doc is None:
                raise ControllerError(Fault.NOT_FOUND, NOT_FOUND)
            activation_id, _ = self.start(doc, args, tid)
            result = {"statusCode": SUCCESS, "success": True, "activationId": activation_id}
        except ControllerError as exc:
            code = WHISK_ERROR if exc.fault is Fault.UNAVAILABLE else APPLICATION_ERROR
            result = {"statusCode": code, "success": False, "error": exc.message}
        result.update({"rule": rule, "action": action})
        return orjson.dumps(result).decode()

    # -- running -------------------------------------------------------------------------------------
    def start(
        self, doc: ActionDoc, payload: dict[str, Any] | None, tid: str, *, early: bool = False
    ) -> tuple[str, asyncio.Future[Activation]]:
        """Accept one invocation of ``doc``: returns its activation id and what gives its activation.

        Without ``early`` that is the task producing the stored record. With ``early`` (a blocking caller
        waits) it is a future of its own, which the caller may cancel without touching the activation: a
        primitive action's activation is given there as soon as the invoker has its result and logs, before
        the record is stored and counted (OpenWhisk's invoker also sends its result first); reads of the
        activations collection wait for such records (:meth:`settle`); anything else is given when its task
        ends. The invocation counts as in flight (concurrency throttle) from here until its record is
        stored."""
        received_at = time.time()
        activation_id = records.new_activation_id()
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Activation] | None = loop.create_future() if early else None
        if doc.is_sequence:
            coro = sequences.run_guarded(self, doc, payload or {}, tid, activation_id, received_at)
        elif doc.is_conductor:
            params = self.merge_params(doc, payload)
            coro = sequences.compose_guarded(self, doc, params, tid, activation_id, received_at)
        else:
            params = self.merge_params(doc, payload)
            coro = self.run_primitive(doc, params, tid, activation_id, received_at, answer=answer)
        ns = self.caller.namespace
        self.throttle.begin(ns)
        task = loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        if answer is None:
            return activation_id, task
        task.add_done_callback(functools.partial(_settle_answer, answer))
        return activation_id, answer

    def _finished(self, task: asyncio.Task[Activation]) -> None:
        self._tasks.discard(task)
        self._early.discard(task)
        self.throttle.end(self.caller.namespace)

    async def settle(self, timeout: float = SETTLE_S) -> None:
        """Wait (up to ``timeout`` s) until every activation already given to a blocking caller has its
        record stored, so a read of the activations collection sees it with its logs."""
        if self._early:
            await asyncio.wait(set(self._early), timeout=timeout)

    async def run_primitive(
        self,
        doc: ActionDoc,
        params: dict[str, Any] | list[Any],
        tid: str,
        activation_id: str,
        received_at: float,
        cause: str | None = None,
        answer: asyncio.Future[Activation] | None = None,
    ) -> Activation:
        """Run one primitive activation through the invoker and store its record (never raises).

        Sequence components (``cause`` set) count as in flight while they run. ``answer`` gets the
        activation (logs ``[]``) as soon as the result is known (see :meth:`start`)."""
        spec = doc.spec(self.limits)
        ns = self.caller.namespace
        early: list[Activation] = []
        on_result = None
        if answer is not None:
            task = asyncio.current_task()

            def on_result(outcome: RunOutcome) -> None:
                activation = records.primitive(self.caller, spec, activation_id, outcome, cause)
                activation.body = orjson.dumps(activation.record)  # what the blocking caller gets
                early.append(activation)
                if task is not None:
                    self._early.add(task)
                if not answer.done():
                    answer.set_result(activation)

        request = RunRequest(
            action=spec,
            params=params,
            activation_id=activation_id,
            transaction_id=tid,
            invoker_namespace=ns,
            api_key=self.config.auth,
            received_at=received_at,
            on_result=on_result,
        )
        component = cause is not None
        if component:
            self.throttle.begin(ns)
        try:
            outcome = await self.invoker.run(request)
        except BaseException as exc:
            log.exception("[%s] invoker failed on activation %s of %s", tid, activation_id, spec.path)
            outcome = records.internal_error(received_at, f"{type(exc).__name__}: {exc}")
            early.clear()
            if not isinstance(exc, Exception):
                self._finish(doc, outcome, activation_id, cause)
                raise
        finally:
            if component:
                self.throttle.end(ns)
        return self._finish(doc, outcome, activation_id, cause, early[0] if early else None)

    def _finish(
        self,
        doc: ActionDoc,
        outcome: RunOutcome,
        activation_id: str,
        cause: str | None,
        given: Activation | None = None,
    ) -> Activation:
        spec = doc.spec(self.limits)
        if given is not None:  # given early with logs []: the same record, now with its logs
            activation = given
            if outcome.logs:
                activation.record["logs"] = outcome.logs
                activation.body = None
        else:
            activation = records.primitive(self.caller, spec, activation_id, outcome, cause)
        self.activations.add(activation)
        self.metrics.observe(
            namespace=spec.namespace,
            initiator=self.caller.namespace,
            action=spec.path.split("/", 1)[1],
            kind=spec.kind,
            memory_mb=spec.memory_mb,
            status_code=outcome.status_code,
            wait_ms=outcome.wait_ms,
            init_ms=outcome.init_ms,
            duration_ms=activation.record["duration"],
        )
        return activation

    def store_sequence(self, activation: Activation) -> Activation:
        self.activations.add(activation)
        return activation

    async def drain(self, timeout: float) -> None:
        """Wait for accepted activations to end (at shutdown, after the invoker stopped); cancel stragglers.

        A cancelled activation still stores its record (``run_primitive`` records, then re-raises)."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=timeout)
