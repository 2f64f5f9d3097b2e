"""Multiple-comparison correction of the gate: Holm / Benjamini-Hochberg, normal-approx. p, CLI, plugin."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats as sps

from pytest_openwhisk.cli import EXIT_OK, EXIT_REGRESSION, EXIT_USAGE, main
from pytest_openwhisk.regress import gate, stats
from pytest_openwhisk.regress.load import Run, run_from_json
from pytest_openwhisk.regress.spec import parse_gate
from pytest_openwhisk.regress.table import format_report
from tests.regress.conftest import latencies
from tests.regress.test_plugin import PLUGIN_ARGS, _project

BuildRun = Callable[..., dict[str, Any]]
Latency = Callable[..., list[float]]
MACHINE = "Linux-CPython-3.11-64bit"


# --- adjustment on hand-computed vectors ---------------------------------------------------------------

# p = [0.01, 0.04, 0.03, 0.005], m = 4; sorted 0.005, 0.01, 0.03, 0.04
# Holm: x4, x3, x2, x1 -> 0.02, 0.03, 0.06, 0.04 -> running max 0.02, 0.03, 0.06, 0.06
# BH:   x4/1, x4/2, x4/3, x4/4 -> 0.02, 0.02, 0.04, 0.04 -> running min from the top: unchanged
HAND = [0.01, 0.04, 0.03, 0.005]


def test_holm_matches_hand_computed_values() -> None:
    assert stats.adjust_p_values(HAND, "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.adjust_p_values([0.01, 0.02, 0.5], "holm") == pytest.approx([0.03, 0.04, 0.5])
    assert stats.adjust_p_values([0.6, 0.7], "holm") == [1.0, 1.0]  # 1.2 capped, then monotone


def test_bh_matches_hand_computed_values() -> None:
    assert stats.adjust_p_values(HAND, "bh") == pytest.approx([0.02, 0.04, 0.04, 0.02])
    # 0.01*3/1 = 0.03, 0.02*3/2 = 0.03, 0.5*3/3 = 0.5
    assert stats.adjust_p_values([0.01, 0.02, 0.5], "bh") == pytest.approx([0.03, 0.03, 0.5])
    # step-up: 0.04*2/1 = 0.08 is lowered to 0.045*2/2 = 0.045
    assert stats.adjust_p_values([0.045, 0.04], "bh") == pytest.approx([0.045, 0.045])


def test_bh_agrees_with_scipy_and_none_is_identity() -> None:
    p = np.random.default_rng(3).uniform(0, 0.2, 50)
    assert stats.adjust_p_values(list(p), "bh") == pytest.approx(list(sps.false_discovery_control(p)))
    assert stats.adjust_p_values(HAND, "none") == HAND
    assert stats.adjust_p_values([], "holm") == []


def test_adjustment_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="unknown multiple-comparison correction 'bonferroni'; use one of"):
        stats.adjust_p_values(HAND, "bonferroni")
    with pytest.raises(ValueError, match=r"p-values must lie in \[0, 1\]"):
        stats.adjust_p_values([0.5, 1.5], "holm")


def test_normal_p_tracks_the_bootstrap_p_but_is_continuous(latency: Latency) -> None:
    base = latency(n=300)
    same = stats.bootstrap_compare(base, latency(n=300), [0.5], resamples=2000, seed=1)[0]
    assert same.p_slower_normal > 0.01
    assert same.p_slower > 0.01
    assert abs(same.p_slower_normal - same.p_slower) < 0.1
    slow = stats.bootstrap_compare(base, latency(n=300, extra_ms=5.0), [0.5], resamples=2000, seed=1)[0]
    assert slow.p_slower == pytest.approx(1 / 2001)  # the bootstrap floor
    assert slow.p_slower_normal < 1e-6  # below the floor: usable with a divided alpha
    assert stats.normal_p_greater(np.array([1.0, 1.0])) == stats.NORMAL_P_FLOOR
    assert stats.normal_p_greater(np.array([10.0, 10.1, 9.9])) == stats.NORMAL_P_FLOOR  # z = 100
    assert stats.normal_p_greater(np.array([-1.0, -1.0])) == 1.0


# --- the gate over many benchmarks -------------------------------------------------------------------


def _many(
    build_run: BuildRun, count: int, slow: dict[str, float] | None = None, seed: int = 2024
) -> tuple[Run, Run]:
    rng = np.random.default_rng(seed)
    names = [f"test_{i:02d}" for i in range(count)]
    base = {name: latencies(rng, 100) for name in names}
    cur = {name: latencies(rng, 100, extra_ms=(slow or {}).get(name, 0.0)) for name in names}
    return run_from_json(build_run(base), "0001_base"), run_from_json(build_run(cur), "0002_head")


def test_many_benchmark_aa_none_flags_noise_holm_does_not(build_run: BuildRun) -> None:
    # 70 A/A benchmarks, any significant slowdown fails (p50:0%), loose alpha 0.1: without a correction
    # about 70 x 0.1 / 2 rows fail. Holm keeps the chance of *any* false alarm at 0.1 (measured offline:
    # 2 of 30 seeds had one), so a fixed data seed is used; BH equals Holm when no row is significant.
    base, cur = _many(build_run, 70, seed=1)
    rules = parse_gate("p50:0%")
    loose = gate.evaluate(base, cur, rules, alpha=0.1, resamples=500)
    assert len(loose.failures) >= 2
    for correction in ("holm", "bh"):
        corrected = gate.evaluate(base, cur, rules, alpha=0.1, resamples=500, correction=correction)
        assert corrected.passed, [c.reason for c in corrected.failures]
        for row in corrected.comparisons:
            assert row.p_adjusted is not None
            assert row.p_value is not None
            assert row.p_adjusted >= row.p_value * (1 - 1e-12)
    assert all(c.p_adjusted is None for c in loose.comparisons)


def test_clear_regression_is_still_caught_with_holm(build_run: BuildRun) -> None:
    base, cur = _many(build_run, 70, slow={"test_07": 5.0})  # about +20 % on the median
    report = gate.evaluate(base, cur, parse_gate("p50:5%,error_rate:1%"), correction="holm")
    assert [(c.benchmark.split("::")[-1], c.rule.metric if c.rule else "") for c in report.failures] == [
        ("test_07", "p50")
    ]
    failure = report.failures[0]
    assert failure.p_adjusted is not None
    assert failure.p_adjusted < 1e-6
    assert "holm-adjusted" in failure.reason
    text = "\n".join(format_report(report))
    assert "correction=holm (family-wise error rate" in text
    assert " adj p " in text.splitlines()[2]


def test_gate_rejects_an_unknown_correction(build_run: BuildRun) -> None:
    base, cur = _many(build_run, 1)
    with pytest.raises(ValueError, match="unknown multiple-comparison correction 'fdr'"):
        gate.evaluate(base, cur, parse_gate("p50:5%"), correction="fdr")


# --- CLI ---------------------------------------------------------------------------------------------


@pytest.fixture
def storage(tmp_path: Path, build_run: BuildRun, latency: Latency) -> Path:
    """0001 and 0002 alike, 0003 with test_a about 25 % slower."""
    root = tmp_path / ".benchmarks" / MACHINE
    root.mkdir(parents=True)
    b = latency()
    for name, a in (("0001_base", latency()), ("0002_same", latency()), ("0003_slow", latency(extra_ms=6.0))):
        data = build_run({"test_a": a, "test_b": b})
        (root / f"{name}.json").write_text(json.dumps(data), encoding="utf-8")
    return root.parent


def _cli(storage: Path, *args: str) -> int:
    return main(["compare", *args, "--storage", str(storage), "--machine-id", MACHINE])


def test_cli_correction_flag(storage: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(storage, "0001", "0003", "--gate", "p50:5%", "--correction", "holm") == EXIT_REGRESSION
    out = capsys.readouterr().out
    assert "correction=holm" in out
    assert "adj p" in out
    assert "holm-adjusted" in out
    assert _cli(storage, "0001", "0002", "--gate", "p50:5%", "--correction", "BH") == EXIT_OK
    assert "correction=bh" in capsys.readouterr().out
    assert _cli(storage, "0001", "0002", "--gate", "p50:5%") == EXIT_OK
    out = capsys.readouterr().out
    assert "correction=none" in out
    assert "adj p" not in out


def test_cli_bad_correction_names_value_and_choices(
    storage: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        _cli(storage, "0001", "0002", "--correction", "bonferroni")
    assert info.value.code == EXIT_USAGE
    assert "invalid multiple-comparison correction 'bonferroni'; use one of none, holm, bh" in (
        capsys.readouterr().err
    )


# --- pytest plugin -----------------------------------------------------------------------------------


def test_plugin_correction_option_env_and_ini(
    pytester: pytest.Pytester,
    build_run: BuildRun,
    latency: Latency,
    base_fingerprint: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _project(pytester, build_run, latency(), latency(extra_ms=5.0), base_fingerprint)
    result = pytester.runpytest(
        *PLUGIN_ARGS, "--ow-regression=p50:5%", "--ow-regression-correction=holm", "-p", "no:cacheprovider"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*openwhisk regression gate: p50:5% vs 0001_base (alpha=0.01, holm correction)*",
            "*correction=holm*",
            "*adj p*",
            "FAILED test_gate.py::test_a p50: +*% is significant (p=*, holm-adjusted * < 0.01) and over +5%",
        ]
    )
    pytester.makeini("[pytest]\now_regression_correction = bh\n")
    result = pytester.runpytest(*PLUGIN_ARGS, "--ow-regression=p50:5%", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*(alpha=0.01, bh correction)*"])
    monkeypatch.setenv("OW_REGRESSION_CORRECTION", "holm")  # env beats ini
    result = pytester.runpytest(*PLUGIN_ARGS, "--ow-regression=p50:5%", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*(alpha=0.01, holm correction)*"])
    result = pytester.runpytest(  # CLI beats env
        *PLUGIN_ARGS, "--ow-regression=p50:5%", "--ow-regression-correction=none", "-p", "no:cacheprovider"
    )
    result.stdout.fnmatch_lines(["*vs 0001_base (alpha=0.01)", "*correction=none*"])
    monkeypatch.setenv("OW_REGRESSION_CORRECTION", "sidak")
    result = pytester.runpytest(*PLUGIN_ARGS, "--ow-regression=p50:5%", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*environment variable OW_REGRESSION_CORRECTION: invalid multiple-comparison correction 'sidak'*"]
    )
    result = pytester.runpytest(*PLUGIN_ARGS, "--ow-regression-correction=bad", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*invalid multiple-comparison correction 'bad'; use one of none, holm, bh*"])
