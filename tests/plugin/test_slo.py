"""Unit tests of pytest_openwhisk.slo: target parsing (every error message), evaluation and the table."""

from __future__ import annotations

import pytest

from pytest_openwhisk.errors import SloViolation
from pytest_openwhisk.measure import Measurement
from pytest_openwhisk.samples import CLIENT_ERROR, Sample
from pytest_openwhisk.slo import (
    METRICS,
    SloConfigError,
    Verdict,
    applies_to_mode,
    assert_slo,
    evaluate,
    format_table,
    parse_target,
)

from .factories import make

# -- parsing --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "text", "ms"),
    [
        ("p99", "250ms", 250.0),
        ("p50", "1s", 1000.0),
        ("max", "1.5s", 1500.0),
        ("mean", "2m", 120_000.0),
        ("cold_start_p95", " 2 s ", 2000.0),
        ("server_p99", ".5s", 500.0),
        ("p99", "1h", 3_600_000.0),
    ],
)
def test_durations(metric: str, text: str, ms: float) -> None:
    target = parse_target(metric, text)
    assert target.value == ms
    assert target.kind == "duration"
    assert target.raw == text


def test_rates_and_throughput() -> None:
    assert parse_target("error_rate", "1%").value == pytest.approx(0.01)
    assert parse_target("cold_ratio", "0.5%").value == pytest.approx(0.005)
    assert parse_target("throughput", "800/s").value == 800.0
    assert parse_target("throughput", "600/min").value == 10.0


def test_metric_names_cover_every_family() -> None:
    for name in (
        "p50",
        "p90",
        "p95",
        "p99",
        "max",
        "mean",
        "server_p99",
        "duration_p50",
        "wait_p95",
        "init_p50",
        "cold_start_max",
        "warm_p99",
        "overhead_p50",
        "cold_ratio",
        "error_rate",
        "throughput",
    ):
        assert name in METRICS


def test_unknown_metric_names_value_allowed_and_example() -> None:
    with pytest.raises(SloConfigError) as info:
        parse_target("p98", "1s")
    text = str(info.value)
    assert "unknown SLO metric 'p98'" in text
    assert "p50 p75 p90 p95 p99 max mean" in text
    assert "cold_start_" in text
    assert "error_rate" in text
    assert "throughput" in text
    assert 'Example: @pytest.mark.ow_slo(p95="250ms"' in text


@pytest.mark.parametrize(
    ("metric", "value", "message"),
    [
        (
            "p99",
            "fast",
            r"invalid SLO value p99='fast': a duration needs a unit \(ms, s, m or h\); "
            r'use e.g. p99="250ms", ".5s", "1.5s" or "2m"',
        ),
        ("p99", 250, r"invalid SLO value p99=250: a duration needs a unit"),
        ("p95", "250", r"invalid SLO value p95='250': a duration needs a unit"),
        ("p95", "-1s", r"invalid SLO value p95='-1s'"),
        ("p95", "3d", r"invalid SLO value p95='3d'"),
        (
            "error_rate",
            "0.01",
            r"invalid SLO value error_rate='0.01': a rate is a percentage from 0% to 100%; "
            r'use e.g. error_rate="1%" or "0.5%"',
        ),
        ("error_rate", 0.01, r"invalid SLO value error_rate=0.01: a rate is a percentage"),
        (
            "cold_ratio",
            "150%",
            r"invalid SLO value cold_ratio='150%': a rate is a percentage from 0% to 100%",
        ),
        (
            "throughput",
            "800",
            r"invalid SLO value throughput='800': a throughput is invocations per second or "
            r'minute; use e.g. throughput="800/s" or "6000/min"',
        ),
        ("throughput", "fast/s", r"invalid SLO value throughput='fast/s'"),
    ],
)
def test_bad_values_name_value_rule_and_example(metric: str, value: object, message: str) -> None:
    with pytest.raises(SloConfigError, match=message):
        parse_target(metric, value)


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown SLO metric"):
        parse_target("latency", "1s")


# -- evaluation -----------------------------------------------------------------------------------------


def test_pass_and_fail_verdicts() -> None:
    samples = [make(float(ms), sent=i * 0.1) for i, ms in enumerate(range(1, 101))]
    verdicts = evaluate({"p50": "100ms", "p99": "50ms", "max": "1s", "throughput": "5/s"}, samples)
    by = {v.metric: v for v in verdicts}
    assert by["p50"].ok
    assert by["p50"].observed == pytest.approx(50.5)
    assert not by["p99"].ok
    assert by["p99"].observed == pytest.approx(99.01)
    assert by["max"].ok
    assert by["max"].samples == 100
    assert by["throughput"].ok  # 100 invocations in ~10 s


def test_throughput_is_a_lower_bound() -> None:
    samples = [make(100.0, sent=float(i)) for i in range(5)]  # ~1.2/s
    [verdict] = evaluate({"throughput": "10/s"}, samples)
    assert not verdict.ok
    assert verdict.observed == pytest.approx(5 / 4.1)


def test_rates() -> None:
    samples = [make(1), make(1, ok=False), make(1, cold=True), make(1)]
    by = {v.metric: v for v in evaluate({"error_rate": "30%", "cold_ratio": "10%"}, samples)}
    assert by["error_rate"].ok
    assert by["error_rate"].observed == 0.25
    assert not by["cold_ratio"].ok
    assert by["cold_ratio"].observed == 0.25


def test_cold_and_warm_metrics_use_their_population() -> None:
    samples = [make(10), make(12), make(900, cold=True), make(1100, cold=True)]
    targets = {"cold_start_max": "1s", "warm_p99": "20ms", "init_p50": "1s"}
    by = {v.metric: v for v in evaluate(targets, samples)}
    assert not by["cold_start_max"].ok
    assert by["cold_start_max"].observed == 1100
    assert by["cold_start_max"].samples == 2
    assert by["warm_p99"].ok
    assert by["warm_p99"].samples == 2
    assert by["init_p50"].observed == 100


def test_server_and_breakdown_metrics() -> None:
    samples = [make(20, duration=8, wait=2), make(30, duration=18, wait=2)]
    by = {
        v.metric: v
        for v in evaluate(
            {"server_max": "20ms", "duration_p50": "10ms", "overhead_max": "5ms", "wait_mean": "2ms"}, samples
        )
    }
    assert by["server_max"].ok
    assert by["server_max"].observed == 20
    assert not by["duration_p50"].ok
    assert by["duration_p50"].observed == 13
    assert not by["overhead_max"].ok
    assert by["overhead_max"].observed == 12
    assert by["wait_mean"].ok


def test_no_samples_fails_unless_skipped() -> None:
    warm_only = [make(10), make(11)]
    [verdict] = evaluate({"cold_start_p95": "2s"}, warm_only)
    assert not verdict.ok
    assert verdict.observed is None
    assert verdict.samples == 0
    assert verdict.observed_text == "no samples"
    assert evaluate({"cold_start_p95": "2s"}, warm_only, skip_empty=True) == []
    [empty] = evaluate({"error_rate": "1%"}, [])
    assert not empty.ok


def test_client_errors_count_as_errors_not_latency() -> None:
    refused = Sample(action="a", sent=0, received=0, latency_ms=0.1, http_status=0, status=CLIENT_ERROR)
    by = {v.metric: v for v in evaluate({"p50": "1ms", "error_rate": "10%"}, [make(50), refused])}
    assert by["p50"].observed == 50
    assert by["error_rate"].observed == 0.5
    assert not by["error_rate"].ok


def test_mode_applicability() -> None:
    assert applies_to_mode("cold_start_p95", "cold")
    assert applies_to_mode("init_p50", "cold")
    assert applies_to_mode("error_rate", "cold")
    assert not applies_to_mode("p99", "cold")
    assert not applies_to_mode("cold_ratio", "cold")
    assert applies_to_mode("p99", "warm")
    assert applies_to_mode("cold_start_p95", "open-loop")


# -- table and assert_slo -------------------------------------------------------------------------------


def test_table_is_aligned() -> None:
    verdicts = [
        Verdict("p99", "1ms", 12.3456, 20, False),
        Verdict("error_rate", "1%", 0.0, 20, True, "rate"),
        Verdict("cold_start_p95", "2s", None, 0, False),
    ]
    lines = format_table(verdicts, "title").splitlines()
    assert lines[0] == "title"
    assert lines[1].split(" | ") == ["metric        ", "target", "  observed", "samples", "verdict"]
    assert set(lines[2]) <= {"-", "+"}
    assert lines[3] == "p99            | 1ms    |    12.35ms |      20 | FAIL"
    assert lines[4] == "error_rate     | 1%     |      0.00% |      20 | PASS"
    assert lines[5] == "cold_start_p95 | 2s     | no samples |       0 | FAIL"
    assert len({line.index("|") for line in lines[1:] if "|" in line}) == 1


def test_assert_slo_raises_with_table_and_records_verdicts() -> None:
    m = Measurement(
        name="warm",
        mode="warm",
        action="hello",
        samples=[make(5.0), make(7.0)],
        started=0,
        ended=1,
        test="t.py::test_x",
    )
    with pytest.raises(SloViolation) as info:
        assert_slo(m, p50="1ms", error_rate="1%")
    text = str(info.value)
    assert text.splitlines()[0] == "SLO violated in t.py::test_x [warm]: 1 of 2 target(s) missed"
    assert "p50        | 1ms    |   6.00ms |       2 | FAIL" in text
    assert [v.metric for v in m.slo] == ["p50", "error_rate"]
    assert isinstance(info.value, AssertionError)


def test_assert_slo_on_samples_passes_and_returns_verdicts() -> None:
    verdicts = assert_slo([make(5.0)], p99="10ms")
    assert verdicts == [Verdict("p99", "10ms", 5.0, 1, True)]


def test_assert_slo_needs_targets() -> None:
    with pytest.raises(SloConfigError, match=r"assert_slo\(\) needs at least one target"):
        assert_slo([make(1.0)])


# -- markers at collection ------------------------------------------------------------------------------


def test_bad_marker_is_a_usage_error_at_collection(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.ow_slo(p99="fast")
        def test_a():
            pass

        @pytest.mark.ow_slo(p97="1s")
        def test_b():
            pass
    """)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: invalid ow_slo marker:",
            "*test_bad_marker_is_a_usage_error_at_collection.py::test_a: invalid SLO value p99='fast'*",
            "*::test_b: unknown SLO metric 'p97'; allowed: *",
        ]
    )


def test_positional_marker_argument_is_rejected(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.ow_slo("250ms")
        def test_a():
            pass
    """)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ow_slo takes keyword arguments only, got ('250ms',)*"])


def test_marker_without_ow_bench_fails_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.ow_slo(p99="1s")
        def test_a():
            pass
    """)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*marked ow_slo but does not use the ow_bench fixture*"])


# -- against the embedded OpenWhisk (--ow-cluster=local) ---------------------------------------------------


def test_local_slo_pass_and_fail(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        CODE = "def main(args):\\n    return {'ok': True}\\n"

        @pytest.mark.ow_slo(p99="30s", error_rate="0%")
        def test_meets(ow_action, ow_bench):
            m = ow_bench.warm(ow_action("hello", code=CODE, kind="python:3"), rounds=5, warmup=1)
            assert [v.ok for v in m.slo] == [True, True]

        @pytest.mark.ow_slo(p99="1ms")
        def test_misses(ow_action, ow_bench):
            ow_bench.warm(ow_action("hello", code=CODE, kind="python:3"), rounds=5, warmup=1)
    """)
    result = pytester.runpytest("--ow-cluster=local", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*SLO violated in test_local_slo_pass_and_fail.py::test_misses [[]warm[]]: "
            "1 of 1 target(s) missed",
            "metric | target | observed | samples | verdict",
            "p99    | 1ms    | *ms |       5 | FAIL",
        ]
    )
