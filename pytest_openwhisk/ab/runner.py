"""Interleaved A/B runners: base and head invoked in pairs, in a random (seeded) order inside each pair.

Sample ``i`` of the base measurement and sample ``i`` of the head measurement form pair ``i``; they were
measured back to back, so slow drift and bursts of a noisy machine hit both sides alike, and a coin
decided which went first (``extra["ab"]["head_first"]``), which makes the randomization test of
:mod:`pytest_openwhisk.ab.paired` exact.

* :func:`run_ab` (``mode="warm"``): ``warmup`` discarded pairs, then ``rounds`` measured pairs.
* :func:`run_ab` (``mode="cold"``): each invocation of a pair comes right after the backend forced that
  action cold (``backend.force_cold``), so both sides are cold starts.
* :func:`run_ab_concurrent`: ``clients`` threads, each doing its own random-order pairs; both sides see
  the same load (each side gets about half of the in-flight invocations).

On Ctrl-C the runners raise :class:`AbInterrupted` (a ``KeyboardInterrupt``) carrying the partial
:class:`AbResult` (complete pairs only, ``extra["interrupted"] = True`` on both measurements).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_openwhisk.measure import (
    STOP_TIMEOUT_S,
    ActionLike,
    ColdForcer,
    Measurement,
    OnSample,
    Params,
    action_names,
    invoke_sample,
    measurement_from_samples,
)
from pytest_openwhisk.samples import Sample

if TYPE_CHECKING:
    from pytest_openwhisk.client import OpenWhiskClient

MODES = ("warm", "cold")
SIDES = ("base", "head")


@dataclass
class AbResult:
    """The two measurements of one interleaved A/B (pair ``i`` = ``base.samples[i]``, ``head.samples[i]``)."""

    base: Measurement
    head: Measurement

    @property
    def pairs(self) -> int:
        """Number of complete pairs."""
        return min(len(self.base.samples), len(self.head.samples))


class AbInterrupted(KeyboardInterrupt):
    """Ctrl-C during an A/B; ``result`` holds the complete pairs measured before it."""

    def __init__(self, result: AbResult) -> None:
        super().__init__(f"A/B interrupted after {result.pairs} pair(s)")
        self.result = result


def _check(what: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"{what}={value!r} is invalid; use an integer >= {minimum}, e.g. {what}={max(minimum, 10)}"
        )
    return value


def check_mode(mode: object) -> str:
    """``mode`` if it is ``warm`` or ``cold``; ``ValueError`` naming it otherwise."""
    if mode not in MODES:
        raise ValueError(f'mode={mode!r} is invalid; use mode="warm" or mode="cold"')
    return str(mode)


def _result(
    names: tuple[str, str],
    mode: str,
    actions: tuple[str, str],
    pairs: list[tuple[Sample, Sample]],
    head_first: list[bool],
    extra: dict[str, Any],
    seed: int,
) -> AbResult:
    measurements = []
    for index, side in enumerate(SIDES):
        info = dict(extra)
        info["ab"] = {
            "role": side,
            "other": names[1 - index],
            "other_action": actions[1 - index],
            "seed": seed,
            "head_first": [int(v) for v in head_first[: len(pairs)]],
        }
        measurements.append(
            measurement_from_samples(
                names[index], mode, actions[index], [pair[index] for pair in pairs], info
            )
        )
    return AbResult(measurements[0], measurements[1])


def run_ab(
    client: OpenWhiskClient,
    backend: ColdForcer | None,
    base: ActionLike | str,
    head: ActionLike | str,
    params: Params = None,
    rounds: int = 200,
    warmup: int = 5,
    mode: str = "warm",
    *,
    seed: int = 0,
    head_params: Params | None = None,
    names: tuple[str, str] = SIDES,
    on_sample: tuple[OnSample | None, OnSample | None] = (None, None),
    before_window: Callable[[], object] | None = None,
    containers: int = 1,
) -> AbResult:
    """``warmup`` discarded pairs, then ``rounds`` measured pairs of base and head, random order per pair.

    ``head_params`` (default: ``params``) lets the two sides take different inputs. In ``cold`` mode
    ``backend.force_cold`` runs right before every measured invocation. ``seed`` makes the order
    reproducible. ``on_sample`` gets each measured sample of base / head at once; ``before_window`` runs
    after the warm-up pairs. Ctrl-C raises :class:`AbInterrupted`.

    ``containers`` (warm mode): the measured pairs are split into this many consecutive blocks, and
    before every block after the first both actions are forced cold (``backend.force_cold``) and
    ``max(warmup, 1)`` discarded pairs warm them again, so each side is measured in ``containers``
    different containers. A warm container keeps its own speed for its whole life (a CPU-bound action
    ran a few percent faster or slower in one process than in the next), which pairing cannot cancel;
    spreading each side over several containers averages it out. ``extra["blocks"]`` holds the first
    pair index of every block.
    """
    _check("rounds", rounds, 1)
    _check("warmup", warmup, 0)
    _check("containers", containers, 1)
    mode = check_mode(mode)
    if mode == "cold" and backend is None:
        raise ValueError('mode="cold" needs the backend (its force_cold makes each invocation a cold start)')
    if containers > 1 and mode == "cold":
        raise ValueError(
            f"containers={containers} applies to warm mode only; cold mode already starts a new container "
            "for every invocation: use containers=1"
        )
    if containers > 1 and backend is None:
        raise ValueError(
            f"containers={containers} needs the backend (its force_cold replaces the warm containers); "
            "pass it, or use containers=1"
        )
    if containers > rounds:
        raise ValueError(f"containers={containers} exceeds rounds={rounds}; use at most one block per pair")
    starts = {rounds * block // containers for block in range(containers)}
    (base_name, base_label), (head_name, head_label) = action_names(base), action_names(head)
    targets = ((base_name, params), (head_name, params if head_params is None else head_params))
    order = random.Random(seed)
    pairs: list[tuple[Sample, Sample]] = []
    head_first: list[bool] = []
    extra: dict[str, Any] = {
        "warmup": warmup,
        "warmup_errors": 0,
        "containers": containers,
        "blocks": sorted(starts),
    }
    warm_order = random.Random(f"{seed}/warmup")  # the measured order depends on the seed only

    def warm(count: int) -> None:
        for _ in range(count):
            sides = (1, 0) if warm_order.random() < 0.5 else (0, 1)
            for side in sides:
                extra["warmup_errors"] += not invoke_sample(
                    client, targets[side][0], targets[side][1], mode="warmup"
                ).ok

    try:
        warm(warmup)
        if warmup and before_window is not None:
            before_window()
        for index in range(rounds):
            if index and index in starts:
                assert backend is not None
                for name, _ in targets:
                    backend.force_cold(client, name)
                warm(max(warmup, 1))
            first_head = order.random() < 0.5
            head_first.append(first_head)
            got: dict[int, Sample] = {}
            for side in (1, 0) if first_head else (0, 1):
                name, args = targets[side]
                if mode == "cold":
                    assert backend is not None
                    backend.force_cold(client, name)
                got[side] = invoke_sample(client, name, args, mode=mode)
            pairs.append((got[0], got[1]))
            for side in (0, 1):
                callback = on_sample[side]
                if callback is not None:
                    callback(got[side])
    except KeyboardInterrupt:
        extra["interrupted"] = True
        raise AbInterrupted(
            _result(names, mode, (base_label, head_label), pairs, head_first, extra, seed)
        ) from None
    return _result(names, mode, (base_label, head_label), pairs, head_first, extra, seed)


def run_ab_concurrent(
    client: OpenWhiskClient,
    base: ActionLike | str,
    head: ActionLike | str,
    params: Params = None,
    clients: int = 4,
    per_client: int = 25,
    warmup: int = 1,
    *,
    seed: int = 0,
    head_params: Params | None = None,
    names: tuple[str, str] = SIDES,
    before_window: Callable[[], object] | None = None,
) -> AbResult:
    """``clients`` threads, each doing ``warmup`` then ``per_client`` random-order pairs back to back.

    Pairs are returned ordered by the send time of their first invocation; mode ``concurrent``. The
    client's connection pool must hold ``clients`` connections. Ctrl-C stops the threads before their
    next pair (bounded by :data:`~pytest_openwhisk.measure.STOP_TIMEOUT_S`) and raises
    :class:`AbInterrupted`.
    """
    _check("clients", clients, 1)
    _check("per_client", per_client, 1)
    _check("warmup", warmup, 0)
    (base_name, base_label), (head_name, head_label) = action_names(base), action_names(head)
    targets = ((base_name, params), (head_name, params if head_params is None else head_params))
    stop = threading.Event()
    found: list[list[tuple[bool, Sample, Sample]]] = [[] for _ in range(clients)]
    failures: list[BaseException] = []
    opened = threading.Event()

    def open_window() -> None:
        if warmup and before_window is not None and not opened.is_set():
            opened.set()
            before_window()

    barrier = threading.Barrier(clients, action=open_window)

    def pair(rng: random.Random, mode: str) -> tuple[bool, Sample, Sample]:
        first_head = rng.random() < 0.5
        got = {
            side: invoke_sample(client, targets[side][0], targets[side][1], mode=mode)
            for side in ((1, 0) if first_head else (0, 1))
        }
        return first_head, got[0], got[1]

    # completion is signalled with events, not Thread.join (cpython gh-90882, as in measure.run_concurrent)
    done = [threading.Event() for _ in range(clients)]

    def worker(index: int) -> None:
        rng = random.Random(f"{seed}/{index}")
        try:
            for _ in range(warmup):
                if not stop.is_set():
                    pair(rng, "warmup")
            try:
                barrier.wait(timeout=120.0)
            except threading.BrokenBarrierError:
                pass
            for _ in range(per_client):
                if stop.is_set():
                    return
                found[index].append(pair(rng, "concurrent"))
        except BaseException as exc:  # handed to the calling thread
            failures.append(exc)
            stop.set()
            barrier.abort()
        finally:
            done[index].set()

    threads = [
        threading.Thread(target=worker, args=(i,), name=f"ow-ab-client-{i}", daemon=True)
        for i in range(clients)
    ]
    extra: dict[str, Any] = {"clients": clients, "per_client": per_client, "warmup": warmup}

    def collect() -> AbResult:
        rows = sorted(
            (row for rows in found for row in list(rows)), key=lambda row: min(row[1].sent, row[2].sent)
        )
        return _result(
            names,
            "concurrent",
            (base_label, head_label),
            [(r[1], r[2]) for r in rows],
            [r[0] for r in rows],
            extra,
            seed,
        )

    try:
        for thread in threads:
            thread.start()
        while not all(event.wait() for event in done):
            pass
    except KeyboardInterrupt:
        stop.set()
        barrier.abort()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while any(not event.is_set() for event in done) and time.monotonic() < deadline:
            next(event for event in done if not event.is_set()).wait(max(0.0, deadline - time.monotonic()))
        extra["interrupted"] = True
        raise AbInterrupted(collect()) from None
    if failures:
        raise failures[0]
    return collect()
