"""Closed-loop measurement runners (warm, cold, concurrent) producing a :class:`Measurement`.

Every invocation becomes one :class:`~pytest_openwhisk.samples.Sample` joining the client's timing
(``time.perf_counter`` latency, epoch ``sent``/``received``) with the activation record:

- a blocking 200/500/502 body *is* the record (start, end, duration, ``waitTime``/``initTime``
  annotations, ``response.status``);
- a 202 after the blocking wait is fetched later with ``wait_activation``; when that fails the sample
  keeps status ``accepted``;
- an HTTP error without a record (401, 429, ...) or a connection failure is a ``client error`` sample:
  recorded, never lost.

A sample is cold when the record carries the ``initTime`` annotation (OpenWhisk only sets it on a cold
start). A sequence record (annotation ``kind: sequence``) never does: in :func:`run_cold` its component
records (the activation ids in its ``logs``) are fetched, and the sample is cold when any of them is,
with ``init_ms`` the sum of their ``initTime``. All loops are bounded by their round counts; each
request by the client's HTTP timeout.

Every runner takes an optional ``on_sample`` callback, called with each measured sample (never a
warm-up invocation) as soon as it is measured, e.g. a :class:`~pytest_openwhisk.measure.samplelog.SampleLog`.
On KeyboardInterrupt a runner stops (concurrent clients finish their current invocation, bounded by
:data:`STOP_TIMEOUT_S`) and raises :class:`MeasurementInterrupted`, a KeyboardInterrupt carrying the
partial :class:`Measurement` (``extra["interrupted"] = True``) of the samples measured so far.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pytest_openwhisk.errors import OpenWhiskError
from pytest_openwhisk.samples import ACCEPTED_NO_RESULT, CLIENT_ERROR, Sample, annotation, sample_from_record
from pytest_openwhisk.stats import summarize

if TYPE_CHECKING:
    from pytest_openwhisk.client import OpenWhiskClient
    from pytest_openwhisk.slo import Verdict

Params = Mapping[str, Any] | list[Any] | None
#: called with every measured sample as soon as it is measured (see :mod:`pytest_openwhisk.measure.samplelog`)
OnSample = Callable[[Sample], None]
#: how long a 202 (still running after the blocking wait) may take to produce its record
LATE_RECORD_TIMEOUT_S = 70.0
#: how long concurrent clients wait for each other at the start barrier
BARRIER_TIMEOUT_S = 120.0
#: how long a sequence component's record may take to be stored after the sequence answered
COMPONENT_RECORD_TIMEOUT_S = 10.0
#: nested sequences deeper than this are not followed when looking for cold components
MAX_SEQUENCE_DEPTH = 10
#: after Ctrl-C, concurrent clients get this long (in total) to finish their current invocation
STOP_TIMEOUT_S = 5.0


class ActionLike(Protocol):
    """What the runners need from an action: the name to invoke and the name without the test prefix."""

    @property
    def name(self) -> str:
        """Full name to invoke."""

    @property
    def base_name(self) -> str:
        """Name without the per-test prefix (reported in results)."""


class ColdForcer(Protocol):
    """The part of a Backend the cold runner needs."""

    def force_cold(self, client: OpenWhiskClient, action: str) -> None:
        """Make the next invocation of ``action`` a cold start."""


@dataclass
class Measurement:
    """One measured workload of a test: its samples, window and SLO verdicts."""

    name: str  # label unique within the test, e.g. "warm", "cold", "concurrent-4x25" or a user name
    mode: str  # "warm" | "cold" | "concurrent" | "open-loop" | ...
    action: str  # action name without the per-test prefix
    samples: list[Sample]
    started: float  # epoch seconds, first send
    ended: float  # epoch seconds, last response
    slo: list[Verdict] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # "monitoring", "warmup", ...
    test: str = ""  # node id of the test that produced it

    @property
    def label(self) -> str:
        """``<test node id> [<name>]`` (just ``name`` outside a test)."""
        return f"{self.test} [{self.name}]" if self.test else self.name

    def summary(self) -> dict[str, Any]:
        """The ``ow_summary`` dict of these samples (see :func:`pytest_openwhisk.stats.summarize`)."""
        return summarize(self.samples)


class MeasurementInterrupted(KeyboardInterrupt):
    """Ctrl-C during a measurement; ``measurement`` holds the samples measured before it.

    A ``KeyboardInterrupt``, so pytest (and any ``except KeyboardInterrupt``) treats it as one. The
    partial measurement has ``extra["interrupted"] = True`` and ``extra["in_flight"]``: invocations
    that were sent (or about to be) without a measured response, hence without a sample.
    """

    def __init__(self, measurement: Measurement) -> None:
        super().__init__(
            f"measurement {measurement.name!r} interrupted after {len(measurement.samples)} sample(s)"
        )
        self.measurement = measurement


def _interrupted(
    name: str, mode: str, action: str, samples: Sequence[Sample], extra: dict[str, Any], in_flight: int
) -> MeasurementInterrupted:
    """The exception to raise for an interrupted runner: a partial measurement of ``samples``."""
    extra.update(interrupted=True, in_flight=in_flight)
    return MeasurementInterrupted(measurement_from_samples(name, mode, action, samples, extra))


def action_names(action: ActionLike | str) -> tuple[str, str]:
    """``(name to invoke, base name)`` of an Action or of a plain action name."""
    if isinstance(action, str):
        return action, action
    return action.name, getattr(action, "base_name", action.name)


def _check_count(what: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        example = max(minimum, 10)
        raise ValueError(f"{what}={value!r} is invalid; use an integer >= {minimum}, e.g. {what}={example}")
    return value


def _client_error(
    name: str,
    sent: float,
    start: float,
    http_status: int,
    error: str,
    mode: str,
    activation_id: str | None = None,
) -> Sample:
    elapsed = time.perf_counter() - start
    return Sample(
        action=name,
        sent=sent,
        received=sent + elapsed,
        latency_ms=elapsed * 1000.0,
        http_status=http_status,
        status=CLIENT_ERROR,
        activation_id=activation_id,
        error=error,
        mode=mode,
    )


def invoke_sample(client: OpenWhiskClient, name: str, params: Params = None, *, mode: str = "warm") -> Sample:
    """One blocking invocation measured as a Sample (never raises for platform or network failures)."""
    return _invoke(client, name, params, mode)[0]


Record = dict[str, Any]


def _invoke(client: OpenWhiskClient, name: str, params: Params, mode: str) -> tuple[Sample, Record | None]:
    """:func:`invoke_sample` and the activation record it was built from (None without one)."""
    sent = time.time()
    start = time.perf_counter()
    try:
        res = client.invoke(name, params, blocking=True, check=False)
    except (OpenWhiskError, OSError) as exc:
        return _client_error(name, sent, start, 0, f"{type(exc).__name__}: {exc}", mode), None
    record = res.record
    if record is not None:
        return sample_from_record(
            name,
            record,
            sent=res.sent,
            received=res.received,
            latency_ms=res.latency_ms,
            http_status=res.http_status,
            mode=mode,
        ), record
    if res.http_status == 202 and res.activation_id:
        try:
            late = client.wait_activation(res.activation_id, timeout=LATE_RECORD_TIMEOUT_S)
        except OpenWhiskError as exc:
            return Sample(
                action=name,
                sent=res.sent,
                received=res.received,
                latency_ms=res.latency_ms,
                http_status=202,
                status=ACCEPTED_NO_RESULT,
                activation_id=res.activation_id,
                error=f"record not available: {exc}",
                mode=mode,
            ), None
        return sample_from_record(
            name,
            late,
            sent=res.sent,
            received=res.received,
            latency_ms=res.latency_ms,
            http_status=res.http_status,
            mode=mode,
        ), late
    body = res.body
    error = body.get("error") if isinstance(body, dict) else None
    return Sample(
        action=name,
        sent=res.sent,
        received=res.received,
        latency_ms=res.latency_ms,
        http_status=res.http_status,
        status=CLIENT_ERROR,
        activation_id=res.activation_id,
        error=str(error or f"HTTP {res.http_status} without an activation record"),
        mode=mode,
    ), None


def is_sequence_record(record: Mapping[str, Any]) -> bool:
    """True for the record of a sequence activation (annotation ``kind: sequence``)."""
    return bool(annotation(dict(record), "kind") == "sequence")


def sequence_init_ms(
    client: OpenWhiskClient, record: Mapping[str, Any], *, _depth: int = 0
) -> tuple[list[float], int]:
    """``initTime`` of every cold component of a sequence record, and how many records were unavailable.

    Components are the activation ids in the record's ``logs``; nested sequences are followed (up to
    :data:`MAX_SEQUENCE_DEPTH`). A record not stored yet is awaited up to
    :data:`COMPONENT_RECORD_TIMEOUT_S`; one that never comes is counted, not raised.
    """
    inits: list[float] = []
    missing = 0
    for activation_id in record.get("logs") or []:
        if not isinstance(activation_id, str):
            continue
        try:
            component = client.wait_activation(activation_id, timeout=COMPONENT_RECORD_TIMEOUT_S)
        except OpenWhiskError:
            missing += 1
            continue
        if is_sequence_record(component) and _depth < MAX_SEQUENCE_DEPTH:
            nested, nested_missing = sequence_init_ms(client, component, _depth=_depth + 1)
            inits += nested
            missing += nested_missing
            continue
        init = annotation(component, "initTime")
        if isinstance(init, int | float) and not isinstance(init, bool):
            inits.append(float(init))
    return inits, missing


def measurement_from_samples(
    name: str, mode: str, action: str, samples: Sequence[Sample], extra: Mapping[str, Any] | None = None
) -> Measurement:
    """Wrap externally produced samples (e.g. an open-loop workload) into a Measurement."""
    items = list(samples)
    now = time.time()
    started = min((s.sent for s in items), default=now)
    ended = max((s.received for s in items), default=now)
    return Measurement(
        name=name,
        mode=mode,
        action=action,
        samples=items,
        started=started,
        ended=ended,
        extra=dict(extra or {}),
    )


def run_warm(
    client: OpenWhiskClient,
    action: ActionLike | str,
    params: Params = None,
    rounds: int = 100,
    warmup: int = 3,
    *,
    name: str | None = None,
    on_sample: OnSample | None = None,
    before_window: Callable[[], object] | None = None,
) -> Measurement:
    """``warmup`` discarded invocations, then ``rounds`` measured blocking invocations, one at a time.

    ``on_sample`` gets each measured sample at once. ``before_window`` runs after a warm-up (if any),
    right before the measured invocations (the backend's monitoring waits there for a fresh scrape so
    the warm-up is not counted in the window). Ctrl-C raises :class:`MeasurementInterrupted`.
    """
    _check_count("rounds", rounds, 1)
    _check_count("warmup", warmup, 0)
    invoke_name, base = action_names(action)
    samples: list[Sample] = []
    extra: dict[str, Any] = {"warmup": warmup, "warmup_errors": 0}
    in_flight = 0
    try:
        for _ in range(warmup):
            in_flight = 1
            extra["warmup_errors"] += not invoke_sample(client, invoke_name, params, mode="warmup").ok
            in_flight = 0
        if warmup and before_window is not None:
            before_window()
        for _ in range(rounds):
            in_flight = 1
            sample = invoke_sample(client, invoke_name, params, mode="warm")
            in_flight = 0
            samples.append(sample)
            if on_sample is not None:
                on_sample(sample)
    except KeyboardInterrupt:
        raise _interrupted(name or "warm", "warm", base, samples, extra, in_flight) from None
    return measurement_from_samples(name or "warm", "warm", base, samples, extra)


def run_cold(
    client: OpenWhiskClient,
    backend: ColdForcer,
    action: ActionLike | str,
    params: Params = None,
    rounds: int = 10,
    *,
    name: str | None = None,
    on_sample: OnSample | None = None,
) -> Measurement:
    """``rounds`` times: force a cold start through the backend, then one measured blocking invocation.

    A sequence sample is cold when any of its components is (their records are fetched: see
    :func:`sequence_init_ms`); its ``init_ms`` is the components' total ``initTime``. Samples whose
    record shows no cold start stay in the measurement with ``cold=False`` (the report
    shows a cold ratio below 1); ``extra["not_cold"]`` counts them. ``on_sample`` gets each sample at
    once (a sequence's after its components were looked at). Ctrl-C raises
    :class:`MeasurementInterrupted`.
    """
    _check_count("rounds", rounds, 1)
    invoke_name, base = action_names(action)
    samples: list[Sample] = []
    missing_components = 0
    in_flight = 0
    try:
        for _ in range(rounds):
            backend.force_cold(client, invoke_name)
            in_flight = 1
            sample, record = _invoke(client, invoke_name, params, "cold")
            in_flight = 0
            samples.append(sample)  # kept even if Ctrl-C comes while its components are looked up
            if record is not None and is_sequence_record(record):
                inits, missing = sequence_init_ms(client, record)
                missing_components += missing
                if inits:
                    sample.cold, sample.init_ms = True, sum(inits)
            if on_sample is not None:
                on_sample(sample)
    except KeyboardInterrupt:
        raise _interrupted(
            name or "cold", "cold", base, samples, _cold_extra(samples, missing_components), in_flight
        ) from None
    return measurement_from_samples(
        name or "cold", "cold", base, samples, _cold_extra(samples, missing_components)
    )


def _cold_extra(samples: Sequence[Sample], missing_components: int) -> dict[str, Any]:
    extra: dict[str, Any] = {"not_cold": sum(1 for s in samples if s.ok and not s.cold)}
    if missing_components:
        extra["missing_component_records"] = missing_components
    return extra


def run_concurrent(
    client: OpenWhiskClient,
    action: ActionLike | str,
    params: Params = None,
    clients: int = 4,
    per_client: int = 25,
    warmup: int = 1,
    *,
    name: str | None = None,
    on_sample: OnSample | None = None,
    before_window: Callable[[], object] | None = None,
) -> Measurement:
    """``clients`` threads each doing ``warmup`` then ``per_client`` blocking invocations back to back.

    Threads start the warm-up together (so each warms its own container) and the measured phase
    together (a barrier); the shared client pools connections (its pool must hold ``clients``).
    ``before_window`` (with a warm-up) runs once, in the last client thread to finish its warm-up,
    after every warm-up invocation and before any measured one (as in :func:`run_warm`, the backend's
    monitoring waits there for a fresh scrape); if it raises, no measured invocation is made and the
    error is re-raised here.
    Samples are returned ordered by send time. ``on_sample`` is called from the client threads (it
    must be thread-safe, as :class:`~pytest_openwhisk.measure.samplelog.SampleLog` is).

    On Ctrl-C (delivered to the calling thread) the clients stop before their next invocation; each
    gets up to :data:`STOP_TIMEOUT_S` in total to finish the one it is in, then
    :class:`MeasurementInterrupted` is raised with the samples measured so far (clients still busy
    are counted in ``extra["in_flight"]``; their daemon threads end on their own).
    """
    _check_count("clients", clients, 1)
    _check_count("per_client", per_client, 1)
    _check_count("warmup", warmup, 0)
    invoke_name, base = action_names(action)
    stop = threading.Event()
    batches: list[list[Sample]] = [[] for _ in range(clients)]
    warm_errors = [0] * clients
    failures: list[BaseException] = []

    def open_window() -> None:  # the warmed barrier's action: all warm-ups done, no one measures yet
        if warmup and before_window is not None and not stop.is_set():
            try:
                before_window()
            except BaseException as exc:  # handed to the calling thread, which re-raises it
                failures.append(exc)
                stop.set()

    started = threading.Barrier(clients)
    warmed = threading.Barrier(clients, action=open_window)
    # completion is signalled with events, not Thread.join: on 3.11 a KeyboardInterrupt inside join()
    # can mark a still running thread as stopped (cpython gh-90882)
    done = [threading.Event() for _ in range(clients)]

    def together(barrier: threading.Barrier) -> None:
        try:
            barrier.wait(timeout=BARRIER_TIMEOUT_S)
        except threading.BrokenBarrierError:
            pass  # a peer failed, was late or we are stopping: go on alone rather than hang

    def abort() -> None:
        started.abort()
        warmed.abort()

    def measure(index: int) -> None:
        together(started)
        for _ in range(warmup):
            if stop.is_set():
                return
            warm_errors[index] += not invoke_sample(client, invoke_name, params, mode="warmup").ok
        together(warmed)
        for _ in range(per_client):
            if stop.is_set():
                return
            sample = invoke_sample(client, invoke_name, params, mode="concurrent")
            batches[index].append(sample)
            if on_sample is not None:
                on_sample(sample)

    def worker(index: int) -> None:
        try:
            measure(index)
        except BaseException as exc:  # handed to the calling thread, which re-raises it
            failures.append(exc)
            stop.set()
            abort()
        finally:
            done[index].set()

    threads = [
        threading.Thread(target=worker, args=(i,), name=f"ow-client-{i}", daemon=True) for i in range(clients)
    ]
    extra: dict[str, Any] = {"clients": clients, "per_client": per_client, "warmup": warmup}
    label = name or "concurrent"
    try:
        for thread in threads:
            thread.start()
        for finished in done:
            finished.wait()
    except KeyboardInterrupt:
        stop.set()
        abort()
        busy = _wait_all(done, STOP_TIMEOUT_S)
        extra["warmup_errors"] = sum(warm_errors)
        measured = sorted((s for batch in batches for s in list(batch)), key=lambda s: s.sent)
        raise _interrupted(label, "concurrent", base, measured, extra, busy) from None
    if failures:
        raise failures[0]
    samples = sorted((s for batch in batches for s in batch), key=lambda s: s.sent)
    extra["warmup_errors"] = sum(warm_errors)
    return measurement_from_samples(label, "concurrent", base, samples, extra)


def _wait_all(events: Sequence[threading.Event], timeout: float) -> int:
    """Wait for ``events`` within ``timeout`` seconds in total; return how many are still unset.

    A second Ctrl-C stops the waiting (the client threads are daemons and end on their own).
    """
    deadline = time.monotonic() + timeout
    try:
        for event in events:
            event.wait(max(0.0, deadline - time.monotonic()))
    except KeyboardInterrupt:
        pass
    return sum(not event.is_set() for event in events)
