"""Gate specification parsing: accepted forms and the messages for bad ones."""

from __future__ import annotations

import pytest

from pytest_openwhisk.regress.spec import GateRule, GateSpecError, parse_gate


def test_parses_comma_list_and_repeated_specs() -> None:
    rules = parse_gate(["p50:5%,p99:10%", "cold_ratio:2%,error_rate:1%", "p95:3ms"])
    assert rules == [
        GateRule("p50", 0.05),
        GateRule("p99", 0.10),
        GateRule("cold_ratio", 0.02),
        GateRule("error_rate", 0.01),
        GateRule("p95", 3.0, absolute=True),
    ]
    assert [r.kind for r in rules] == ["latency", "latency", "proportion", "proportion", "latency"]
    assert rules[0].quantile == 0.5
    assert rules[2].series == "cold"
    assert str(rules[1]) == "p99:10%"


def test_series_prefix_mean_and_fractional_percentile() -> None:
    duration, mean, tail = parse_gate("duration_p95:5%, mean:2%, P99.9:20%")
    assert (duration.series, duration.quantile) == ("duration_ms", 0.95)
    assert (mean.series, mean.quantile) == ("latency_ms", None)
    assert tail.quantile == pytest.approx(0.999)


def test_last_threshold_of_a_metric_wins() -> None:
    assert parse_gate("p95:5%,p95:8%") == [GateRule("p95", 0.08)]


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("p95", "invalid gate item 'p95': expected METRIC:THRESHOLD"),
        ("p95:", "invalid gate item 'p95:'"),
        ("latency:5%", "invalid gate metric 'latency'"),
        ("p95:5", "invalid gate threshold '5' in 'p95:5'"),
        ("p95:fast", "invalid gate threshold 'fast'"),
        ("p0:5%", "invalid percentile 'p0'"),
        ("error_rate:2ms", "error_rate is a proportion, give percentage points"),
        ("cold_ratio:100%", "cannot rise by 100 points"),
        (" , ", "empty gate specification"),
    ],
)
def test_bad_specs_name_the_value_and_the_fix(spec: str, fragment: str) -> None:
    with pytest.raises(GateSpecError) as info:
        parse_gate(spec)
    assert fragment in str(info.value)
    assert "e.g." in str(info.value)
