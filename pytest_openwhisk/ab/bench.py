"""``ow_bench.ab`` and the automatic A/B of ``--ow-ab-base``: run, record both sides, apply ``ow_ab``.

:func:`measure_ab` is what ``BenchRunner.ab`` runs: an interleaved A/B (:mod:`~pytest_openwhisk.ab.runner`)
whose two measurements are recorded like any other (sample logs, terminal summary, pytest-benchmark
entries ``<test>[<name>-base]``/``[<name>-head]``, or ``[base]``/``[head]`` without a name). SLO targets
of ``ow_slo`` apply to the head measurement only (base is the reference). The A/B joins the session's
gate; with an ``@pytest.mark.ow_ab(...)`` marker a regression also fails the test at once, with the gate
table. :func:`auto_ab` is the hook ``ow_bench.warm/cold/concurrent`` call first: when the action has a
base version (``--ow-ab-base``), the measurement becomes an A/B and the head measurement is returned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from pytest_openwhisk.ab.gate import AbComparison, marker_rules
from pytest_openwhisk.ab.runner import AbInterrupted, AbResult, check_mode, run_ab, run_ab_concurrent
from pytest_openwhisk.ab.session import AB_KEY, AbSession
from pytest_openwhisk.regress.spec import GateRule
from pytest_openwhisk.regress.table import format_report

if TYPE_CHECKING:
    from pytest_openwhisk.measure import ActionLike, Measurement, OnSample, Params
    from pytest_openwhisk.regress.gate import GateReport

MARKER = (
    "ow_ab(**thresholds): fail the test when an A/B of ow_bench.ab (or --ow-ab-base) regressed, e.g. "
    '@pytest.mark.ow_ab(p50="3%", p95="5%") (metrics and thresholds as in --ow-regression)'
)


@dataclass
class AbOutcome:
    """What ``ow_bench.ab`` returns: both measurements and the paired verdicts of this A/B."""

    base: Measurement
    head: Measurement
    report: GateReport

    @property
    def passed(self) -> bool:
        """True when no metric regressed."""
        return self.report.passed

    def verdicts(self) -> dict[str, str]:
        """``{metric: verdict}`` (``"REGRESSION"``, ``"slower"``, ``"no change"``, ...)."""
        return {c.rule.metric: c.verdict for c in self.report.comparisons if c.rule is not None}


#: warm A/Bs measure each side in this many successive containers (``containers=`` of ``ow_bench.ab``);
#: the test re-randomizes per container, and 2**10 label patterns allow p-values down to 1/1024
DEFAULT_CONTAINERS = 10


def default_containers(config: pytest.Config) -> int:
    """Warm A/B containers per side: ``--ow-ab-containers`` (env ``OW_AB_CONTAINERS``, ini), else
    :data:`DEFAULT_CONTAINERS`."""
    from pytest_openwhisk.session import SESSION_KEY

    session = config.stash.get(SESSION_KEY, None)
    return int(getattr(getattr(session, "settings", None), "ab_containers", DEFAULT_CONTAINERS))


def session_of(config: pytest.Config) -> AbSession:
    """The session's :class:`AbSession` (created on first use when the plugin did not stash one)."""
    found = config.stash.get(AB_KEY, None)
    if found is None:
        found = config.stash[AB_KEY] = AbSession()
    return found


def item_rules(item: pytest.Item) -> list[GateRule] | None:
    """The ``ow_ab`` marker's rules of ``item`` (None without a marker); ``pytest.UsageError`` if bad."""
    marker = item.get_closest_marker("ow_ab")
    if marker is None:
        return None
    if marker.args:
        raise pytest.UsageError(
            f"{item.nodeid}: ow_ab takes keyword thresholds only, e.g. "
            f'@pytest.mark.ow_ab(p50="3%", p95="5%"); got positional {marker.args!r}'
        )
    try:
        return marker_rules(marker.kwargs, item.nodeid)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


def _stem(runner: Any, stem: str) -> str:
    """``stem`` (or ``stem-2``, ...): free as a row label and as ``<stem>-base``/``<stem>-head``."""
    taken: set[str] = set()
    for measurement in runner.measurements:
        taken.add(measurement.name)
        for suffix in ("-base", "-head"):
            if measurement.name.endswith(suffix):
                taken.add(measurement.name.removesuffix(suffix))
    candidate, n = stem, 1
    while {candidate, f"{candidate}-base", f"{candidate}-head"} & taken:
        n += 1
        candidate = f"{stem}-{n}"
    return candidate


def _labels(runner: Any, name: str | None, default: str | None) -> tuple[str, str, str]:
    """(row label, base measurement name, head measurement name), unique within the test."""
    stem = name or default
    if stem is None:
        return "ab", runner._unique("base"), runner._unique("head")
    stem = _stem(runner, stem)
    return stem, f"{stem}-base", f"{stem}-head"


def measure_ab(
    runner: Any,
    base: ActionLike | str,
    head: ActionLike | str,
    params: Params = None,
    rounds: int = 200,
    warmup: int = 5,
    mode: str = "warm",
    *,
    name: str | None = None,
    head_params: Params | None = None,
    seed: int | None = None,
    concurrency: tuple[int, int] | None = None,
    rules: Sequence[GateRule] | None = None,
    default_label: str | None = None,
    note: str = "",
    containers: int | None = None,
) -> AbOutcome:
    """Measure ``base`` and ``head`` interleaved for ``runner`` (a ``BenchRunner``) and record both.

    ``concurrency=(clients, per_client)`` runs :func:`~pytest_openwhisk.ab.runner.run_ab_concurrent`
    (``warmup`` pairs per client) instead of warm/cold pairs. ``seed`` defaults to the gate seed.
    ``containers`` (warm mode; default :data:`DEFAULT_CONTAINERS`, at most ``rounds``): each side is
    measured in that many successive containers (see :func:`~pytest_openwhisk.ab.runner.run_ab`).
    """
    if concurrency is None:
        mode = check_mode(mode)
    if containers is None:
        containers = min(default_containers(runner.config), max(rounds, 1)) if mode == "warm" else 1
    session = session_of(runner.config)
    label, base_name, head_name = _labels(runner, name, default_label)
    order_seed = session.settings.seed if seed is None else seed
    opener = getattr(runner.backend, "open_window", None)
    with ExitStack() as logs:
        sinks = [_log(runner, logs, side) for side in (base_name, head_name)]

        def run() -> AbResult:
            if concurrency is not None:
                return run_ab_concurrent(
                    runner.client,
                    base,
                    head,
                    params,
                    concurrency[0],
                    concurrency[1],
                    warmup,
                    seed=order_seed,
                    head_params=head_params,
                    names=(base_name, head_name),
                    before_window=opener,
                )
            return run_ab(
                runner.client,
                runner.backend,
                base,
                head,
                params,
                rounds,
                warmup,
                mode,
                seed=order_seed,
                head_params=head_params,
                names=(base_name, head_name),
                on_sample=(sinks[0], sinks[1]),
                before_window=opener,
                containers=containers,
            )

        try:
            result = run()
        except AbInterrupted as exc:
            for measurement in (exc.result.base, exc.result.head):
                runner._finish(measurement, partial=True)
            raise
    node_rules = _current_rules(runner)
    chosen = list(rules or node_rules or session.settings.default_rules())
    comparison = AbComparison(
        f"{runner.nodeid} [{label}]",
        head=result.head,
        base=result.base,
        rules=chosen,
        base_label=session.base_label,
        note=note,
    )
    session.add(comparison)
    _record_reference(runner, result.base)
    runner._finish(result.head)  # SLOs, monitoring of the shared window, pytest-benchmark entry
    report = session.evaluate([comparison])
    if node_rules and not report.passed:
        text = "\n".join(format_report(report))
        pytest.fail(
            f"A/B regression in {runner.nodeid} [{label}] (head vs {session.base_label}):\n{text}",
            pytrace=False,
        )
    return AbOutcome(result.base, result.head, report)


def _log(runner: Any, stack: ExitStack, name: str) -> OnSample | None:
    """A sample log for measurement ``name`` (closed with ``stack``), or None without a results dir."""
    from pytest_openwhisk.measure.machine import secrets_of
    from pytest_openwhisk.measure.samplelog import SampleLog

    path = runner.sample_log(name)
    if path is None:
        return None
    log = SampleLog(path, secrets_of(runner.config))
    stack.callback(log.close)
    return log


def _record_reference(runner: Any, measurement: Measurement) -> None:
    """Record the base side like a measurement, without SLO verdicts (it is the reference)."""
    measurement.name = runner._unique(measurement.name)
    measurement.test = runner.nodeid
    runner._record(measurement)


def _current_rules(runner: Any) -> list[GateRule] | None:
    """The running test's ``ow_ab`` rules (stashed by the plugin at setup), None without a marker."""
    session = runner.config.stash.get(AB_KEY, None)
    rules = session.marker_rules.get(runner.nodeid) if session is not None else None
    return list(rules) if rules else None


def auto_ab(
    runner: Any,
    mode: str,
    action: ActionLike | str,
    params: Params,
    *,
    name: str | None,
    rounds: int = 0,
    warmup: int = 0,
    clients: int = 0,
    per_client: int = 0,
) -> Measurement | None:
    """Under ``--ow-ab-base``: run this measurement as an A/B and return the head side (else None).

    ``mode`` is ``warm``, ``cold`` or ``concurrent``. An action new in head is measured the usual way
    and listed as ``new`` (measured, not gated).
    """
    session = runner.config.stash.get(AB_KEY, None)
    if session is None or session.worktree is None or session.bypass:
        return None
    side = session.base_for(action)
    if side is None:
        return None
    default = {"warm": "warm", "cold": "cold"}.get(mode, f"concurrent-{clients}x{per_client}")
    if side.action is None:
        return _new_in_head(
            runner,
            session,
            mode,
            action,
            params,
            name or default,
            side.note,
            rounds=rounds,
            warmup=warmup,
            clients=clients,
            per_client=per_client,
        )
    concurrency = (clients, per_client) if mode == "concurrent" else None
    outcome = measure_ab(
        runner,
        side.action,
        action,
        params,
        rounds=rounds,
        warmup=warmup,
        mode="warm" if mode == "concurrent" else mode,
        name=name,
        concurrency=concurrency,
        default_label=default,
    )
    return outcome.head


def _new_in_head(
    runner: Any,
    session: AbSession,
    mode: str,
    action: ActionLike | str,
    params: Params,
    label: str,
    note: str,
    **counts: int,
) -> Measurement:
    method: Callable[..., Measurement] = getattr(runner, mode)
    kwargs = (
        {"rounds": counts["rounds"], "warmup": counts["warmup"]}
        if mode == "warm"
        else {"rounds": counts["rounds"]}
        if mode == "cold"
        else {"clients": counts["clients"], "per_client": counts["per_client"], "warmup": counts["warmup"]}
    )
    stem = _stem(runner, label)
    session.bypass = True
    try:
        measurement = method(action, params, name=f"{stem}-head", **kwargs)
    finally:
        session.bypass = False
    session.add(
        AbComparison(
            f"{runner.nodeid} [{stem}]", head=measurement, note=note, rules=session.settings.default_rules()
        )
    )
    return measurement
