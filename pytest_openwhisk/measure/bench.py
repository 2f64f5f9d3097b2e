"""The ``ow_bench`` fixture: run measurements, feed pytest-benchmark and apply the test's ``ow_slo`` targets.

SLO targets of ``@pytest.mark.ow_slo(...)`` are evaluated right after each measurement on the samples
they apply to (see :func:`pytest_openwhisk.slo.applies_to_mode`); a miss fails the test at once with
the verdict table. Targets that no measurement of the test could evaluate (e.g. ``cold_start_p95``
without any cold sample) fail the test when its function returns ("no samples"), through the
:func:`pytest_pyfunc_call` wrapper the plugin registers.

Every measured sample is streamed to ``<results_dir>/samples/<test>/<measurement>.jsonl`` as it is
measured (:mod:`pytest_openwhisk.measure.samplelog`). On Ctrl-C the samples measured so far are recorded as a
partial measurement (``extra["interrupted"] = True``, no SLO verdicts) and the interrupt is re-raised.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_openwhisk.ab.bench import AbOutcome, auto_ab, measure_ab
from pytest_openwhisk.errors import SloViolation
from pytest_openwhisk.measure.compare import check_compared
from pytest_openwhisk.measure.entries import record_measurement
from pytest_openwhisk.measure.machine import remember_cluster, secrets_of
from pytest_openwhisk.measure.runners import (
    ActionLike,
    Measurement,
    MeasurementInterrupted,
    OnSample,
    Params,
    action_names,
    measurement_from_samples,
    run_cold,
    run_concurrent,
    run_warm,
)
from pytest_openwhisk.measure.samplelog import SampleLog, sample_log_path
from pytest_openwhisk.samples import Sample
from pytest_openwhisk.session import SESSION_KEY
from pytest_openwhisk.slo import (
    Target,
    Verdict,
    applies_to_mode,
    evaluate,
    format_table,
    marker_targets,
    parse_targets,
    violation_message,
)

if TYPE_CHECKING:
    from pytest_openwhisk.backends.base import Backend
    from pytest_openwhisk.client import OpenWhiskClient

RUNNER_KEY = pytest.StashKey["BenchRunner"]()


class BenchRunner:
    """Runs measurements for one test; every method returns the :class:`Measurement` it recorded.

    Each measurement is appended to the session's ``measurements`` (terminal summary), recorded as its
    own pytest-benchmark entry, given the backend's monitoring for its window (``extra["monitoring"]``)
    and checked against the test's ``ow_slo`` targets. Samples of ``warm``/``cold``/``concurrent``
    are streamed to :meth:`sample_log` as they are measured; an interrupted measurement is recorded
    as a partial one (no SLO check, no monitoring) before the KeyboardInterrupt goes on.
    """

    def __init__(
        self,
        *,
        client: OpenWhiskClient,
        backend: Backend,
        config: pytest.Config,
        nodeid: str,
        targets: Sequence[Target] = (),
        benchmark: Any = None,
    ) -> None:
        self.client = client
        self.backend = backend
        self.config = config
        self.nodeid = nodeid
        self.targets = list(targets)
        self.benchmark = benchmark
        self.measurements: list[Measurement] = []
        self._evaluated: set[str] = set()
        self.finished = False

    # -- measurements ---------------------------------------------------------------------------------

    def warm(
        self,
        action: ActionLike | str,
        params: Params = None,
        rounds: int = 100,
        warmup: int = 3,
        name: str | None = None,
    ) -> Measurement:
        """``warmup`` discarded invocations, then ``rounds`` measured blocking invocations in a row."""
        ab = auto_ab(self, "warm", action, params, name=name, rounds=rounds, warmup=warmup)
        if ab is not None:  # --ow-ab-base: measured as an interleaved A/B, head returned
            return ab
        label = self._unique(name or "warm")
        return self._measure(
            label,
            lambda log: run_warm(
                self.client,
                action,
                params,
                rounds,
                warmup,
                name=label,
                on_sample=log,
                before_window=self.backend.open_window,
            ),
        )

    def cold(
        self, action: ActionLike | str, params: Params = None, rounds: int = 10, name: str | None = None
    ) -> Measurement:
        """``rounds`` blocking invocations, each after the backend forced a cold start."""
        ab = auto_ab(self, "cold", action, params, name=name, rounds=rounds)
        if ab is not None:
            return ab
        label = self._unique(name or "cold")
        return self._measure(
            label,
            lambda log: run_cold(
                self.client, self.backend, action, params, rounds, name=label, on_sample=log
            ),
        )

    def concurrent(
        self,
        action: ActionLike | str,
        params: Params = None,
        clients: int = 4,
        per_client: int = 25,
        warmup: int = 1,
        name: str | None = None,
    ) -> Measurement:
        """``clients`` threads x ``per_client`` blocking invocations, started together after a warm-up."""
        ab = auto_ab(
            self,
            "concurrent",
            action,
            params,
            name=name,
            clients=clients,
            per_client=per_client,
            warmup=warmup,
        )
        if ab is not None:
            return ab
        label = self._unique(name or f"concurrent-{clients}x{per_client}")
        return self._measure(
            label,
            lambda log: run_concurrent(
                self.client,
                action,
                params,
                clients,
                per_client,
                warmup,
                name=label,
                on_sample=log,
                before_window=self.backend.open_window,
            ),
        )

    def ab(
        self,
        base: ActionLike | str,
        head: ActionLike | str,
        params: Params = None,
        rounds: int = 200,
        warmup: int = 5,
        mode: str = "warm",
        **options: Any,
    ) -> AbOutcome:
        """Interleaved A/B of two deployed actions (random order per pair); records ``[base]``/``[head]``.

        Options: ``name``, ``head_params``, ``seed``, ``containers`` (warm mode: each side is measured in
        that many successive containers, default 10, and tested per container). Returns both measurements and
        the paired verdicts;
        an ``ow_ab`` marker fails the test on a regression (see docs/regression.md).
        """
        return measure_ab(self, base, head, params, rounds, warmup, mode, **options)

    def sample_log(self, name: str) -> Path | None:
        """Where measurement ``name``'s samples are streamed (None without a session / results dir)."""
        session = self.config.stash.get(SESSION_KEY, None)
        if session is None:
            return None
        return sample_log_path(session.settings.results_dir, self.nodeid, name)

    def record(
        self,
        name: str,
        samples: Sequence[Sample],
        mode: str = "open-loop",
        action: ActionLike | str = "",
        extra: Mapping[str, Any] | None = None,
    ) -> Measurement:
        """Record samples measured elsewhere (e.g. the open-loop generator) like any other measurement."""
        base = action_names(action)[1] if action else (samples[0].action if samples else "")
        return self._finish(measurement_from_samples(name, mode, base, samples, extra))

    # -- SLOs -----------------------------------------------------------------------------------------

    def assert_slo(self, **targets: object) -> list[Verdict]:
        """Check targets now against every measurement of this test (same rules as ``ow_slo``).

        Raises :class:`~pytest_openwhisk.errors.SloViolation` with one table per measurement when a
        target is missed or no measurement produced samples for it. Returns every verdict.
        """
        parsed = parse_targets(targets)
        sections: list[tuple[str, list[Verdict]]] = []
        covered: set[str] = set()
        for m in self.measurements:
            verdicts = evaluate(
                [t for t in parsed if applies_to_mode(t.metric, m.mode)], m.samples, skip_empty=True
            )
            covered.update(v.metric for v in verdicts)
            if verdicts:
                sections.append((m.label, verdicts))
        missing = [
            Verdict(t.metric, t.raw, None, 0, False, t.kind) for t in parsed if t.metric not in covered
        ]
        if missing:
            sections.append((f"{self.nodeid} (no measurement had samples for these)", missing))
        every = [v for _, verdicts in sections for v in verdicts]
        if not all(v.ok for v in every):
            failed = sum(not v.ok for v in every)
            text = [f"SLO violated: {failed} of {len(every)} target(s) missed"]
            text += [format_table(verdicts, f"{where}:") for where, verdicts in sections]
            raise SloViolation("\n".join(text))
        return every

    def unmet(self) -> list[Verdict]:
        """``ow_slo`` targets no measurement of this test has evaluated yet ("no samples" verdicts)."""
        return [
            Verdict(t.metric, t.raw, None, 0, False, t.kind)
            for t in self.targets
            if t.metric not in self._evaluated
        ]

    def check_unmet(self) -> None:
        """Fail the test when an ``ow_slo`` target was never evaluated; runs once per test."""
        if self.finished:
            return
        self.finished = True
        missing = self.unmet()
        if missing:
            where = f"{self.nodeid}: no measurement produced samples for these targets"
            pytest.fail(violation_message(missing, where), pytrace=False)

    # -- internals ------------------------------------------------------------------------------------

    def _unique(self, name: str) -> str:
        taken = {m.name for m in self.measurements}
        candidate, n = name, 1
        while candidate in taken:
            n += 1
            candidate = f"{name}-{n}"
        return candidate

    def _measure(self, label: str, run: Callable[[OnSample | None], Measurement]) -> Measurement:
        """Run one measurement with its sample log; record a partial one on Ctrl-C and re-raise."""
        path = self.sample_log(label)
        log = SampleLog(path, secrets_of(self.config)) if path is not None else None
        try:
            measurement = run(log)
        except MeasurementInterrupted as exc:
            self._finish(exc.measurement, partial=True)
            raise
        finally:
            if log is not None:
                log.close()
        return self._finish(measurement)

    def _finish(self, measurement: Measurement, *, partial: bool = False) -> Measurement:
        """Record ``measurement`` (session, pytest-benchmark) and apply the SLOs unless ``partial``."""
        measurement.name = self._unique(measurement.name)
        measurement.test = self.nodeid
        if partial:  # Ctrl-C: keep what was measured, quickly; verdicts on a cut-short run mean nothing
            measurement.extra["interrupted"] = True
            self._record(measurement)
            return measurement
        try:
            sent = invocations_sent(measurement.samples)
            monitoring = self.backend.monitor(measurement.started, measurement.ended, sent=sent)
        except Exception as exc:  # monitoring must never cost the measurement
            monitoring = {"error": f"{type(exc).__name__}: {exc}"}
        if monitoring:
            measurement.extra["monitoring"] = monitoring
        applicable = [t for t in self.targets if applies_to_mode(t.metric, measurement.mode)]
        measurement.slo = evaluate(applicable, measurement.samples, skip_empty=True)
        self._evaluated.update(v.metric for v in measurement.slo)
        self._record(measurement)
        if not all(v.ok for v in measurement.slo):
            pytest.fail(violation_message(measurement.slo, measurement.label), pytrace=False)
        return measurement

    def _record(self, measurement: Measurement) -> None:
        self.measurements.append(measurement)
        session = self.config.stash.get(SESSION_KEY, None)
        if session is not None:
            session.measurements.append(measurement)
        record_measurement(self.config, self.benchmark, measurement)


def invocations_sent(samples: Sequence[Sample]) -> int:
    """How many of ``samples`` OpenWhisk accepted (those with an activation id): the activations its
    counters must reach for the window (a 429 or a refused connection makes none)."""
    return sum(1 for sample in samples if sample.activation_id)


#: pytest-benchmark's warning for a test whose ``benchmark`` fixture made no timed call; ``ow_bench``
#: feeds pytest-benchmark its own entries instead, so the plugin filters it for tests using ``ow_bench``
UNUSED_BENCHMARK_FILTER = "ignore:Benchmark fixture was not used at all in this test!"


def quiet_unused_benchmark(items: Sequence[pytest.Item]) -> None:
    """Add :data:`UNUSED_BENCHMARK_FILTER` (a ``filterwarnings`` mark) to every test using ``ow_bench``."""
    for item in items:
        if "ow_bench" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.filterwarnings(UNUSED_BENCHMARK_FILTER))


@pytest.fixture
def ow_bench(
    request: pytest.FixtureRequest, ow_client: OpenWhiskClient, ow_cluster: Backend, benchmark: Any
) -> Iterator[BenchRunner]:
    """Measure actions: ``ow_bench.warm(action)``, ``.cold()``, ``.concurrent()``, ``.record()``.

    Each call returns a Measurement (samples, summary, SLO verdicts), adds it to pytest-benchmark's
    results (one entry per measurement, stats = client latency per invocation) and checks the test's
    ``@pytest.mark.ow_slo(...)`` targets; a missed target fails the test with a verdict table.
    """
    try:
        targets = parse_targets(marker_targets(request.node))
    except ValueError as exc:
        raise pytest.UsageError(f"{request.node.nodeid}: {exc}") from exc
    check_compared(request.config, remember_cluster(request.config, ow_cluster))
    runner = BenchRunner(
        client=ow_client,
        backend=ow_cluster,
        config=request.config,
        nodeid=request.node.nodeid,
        targets=targets,
        benchmark=benchmark,
    )
    request.node.stash[RUNNER_KEY] = runner
    yield runner
    runner.check_unmet()  # no-op after pytest_pyfunc_call; a safety net when that wrapper is not registered


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, object, object]:
    """After a test function returns, fail it for ``ow_slo`` targets that were never evaluated.

    Also fails a test marked ``ow_slo`` that does not use ``ow_bench`` (its targets could never apply).
    """
    runner = pyfuncitem.stash.get(RUNNER_KEY, None)
    try:
        result = yield
    except BaseException:
        if runner is not None:
            runner.finished = True  # the test already failed; do not pile "no samples" on top
        raise
    if runner is not None:
        runner.check_unmet()
    elif pyfuncitem.get_closest_marker("ow_slo") is not None:
        pytest.fail(
            f"{pyfuncitem.nodeid} is marked ow_slo but does not use the ow_bench fixture; "
            "measure with ow_bench.warm(...)/.cold(...)/.concurrent(...) or drop the marker",
            pytrace=False,
        )
    return result
