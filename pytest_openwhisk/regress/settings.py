"""Options of the regression-gate plugin, resolved once: CLI > env ``OW_*`` > ini ``ow_*`` > default.

Resolution goes through the plugin's :func:`~pytest_openwhisk.resolve.resolve_option`, switches through
the shared :func:`~pytest_openwhisk.parsers.parse_bool` (an invalid value is a usage error, never false).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_openwhisk.parsers import parse_bool, text
from pytest_openwhisk.regress.fingerprint import VOLATILE_KEYS
from pytest_openwhisk.regress.gate import (
    CORRECTIONS,
    DEFAULT_ALPHA,
    DEFAULT_CORRECTION,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
)
from pytest_openwhisk.regress.spec import GateRule, GateSpecError, parse_gate
from pytest_openwhisk.resolve import Resolved, resolve_option


def parse_alpha(value: str) -> float:
    """``"0.01"`` -> 0.01; must lie strictly between 0 and 0.5."""
    try:
        alpha = float(value)
    except ValueError:
        alpha = -1.0
    if not 0 < alpha < 0.5:
        raise argparse.ArgumentTypeError(
            f"invalid significance level {value!r}; use a number between 0 and 0.5 (exclusive), e.g. 0.01"
        )
    return alpha


def parse_resamples(value: str) -> int:
    """Bootstrap resamples: an integer from 100 to 100000."""
    try:
        count = int(value)
    except ValueError:
        count = 0
    if not 100 <= count <= 100_000:
        raise argparse.ArgumentTypeError(
            f"invalid number of bootstrap resamples {value!r}; use an integer from 100 to 100000, e.g. 2000"
        )
    return count


def parse_seed(value: str) -> int:
    """A non-negative integer seed."""
    if not value.strip().isdigit():
        raise argparse.ArgumentTypeError(f"invalid seed {value!r}; use a non-negative integer, e.g. 1")
    return int(value)


def parse_correction(value: str) -> str:
    """Multiple-comparison correction: ``none``, ``holm`` or ``bh`` (case-insensitive)."""
    name = value.strip().lower()
    if name not in CORRECTIONS:
        raise argparse.ArgumentTypeError(
            f"invalid multiple-comparison correction {value!r}; use one of {', '.join(CORRECTIONS)} "
            "(holm: family-wise error rate, bh: Benjamini-Hochberg false discovery rate)"
        )
    return name


def parse_spec(value: str) -> str:
    """Check a gate spec at parse time (the text is kept; :func:`parse_gate` builds the rules)."""
    try:
        parse_gate(value)
    except GateSpecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def add_options(parser: pytest.Parser) -> None:
    """Register the ``--ow-regression*`` options and ini keys."""
    group = parser.getgroup("openwhisk-regress", "pytest-openwhisk statistical regression gate")
    group.addoption(
        "--ow-regression",
        action="append",
        type=parse_spec,
        metavar="SPEC",
        default=None,
        help="fail the session when a benchmark regressed significantly beyond a threshold, e.g. "
        "p95:5%%,p99:10%%,cold_ratio:2%%,error_rate:1%% (repeatable; env OW_REGRESSION)",
    )
    group.addoption(
        "--ow-regression-baseline",
        metavar="PATH|latest|RUNID",
        default=None,
        help="run to compare with: a JSON file, 'latest' (default: newest saved run of this "
        "machine in --benchmark-storage), 'latest~N' or a run id such as 0003",
    )
    group.addoption(
        "--ow-regression-alpha",
        type=parse_alpha,
        default=None,
        metavar="ALPHA",
        help=f"significance level of the one-sided tests (default {DEFAULT_ALPHA})",
    )
    group.addoption(
        "--ow-regression-resamples",
        type=parse_resamples,
        default=None,
        metavar="N",
        help=f"bootstrap resamples (default {DEFAULT_RESAMPLES})",
    )
    group.addoption(
        "--ow-regression-seed",
        type=parse_seed,
        default=None,
        metavar="N",
        help=f"bootstrap seed (default {DEFAULT_SEED}); same data + seed = same verdicts",
    )
    group.addoption(
        "--ow-regression-correction",
        type=parse_correction,
        default=None,
        metavar="|".join(CORRECTIONS),
        help="adjust the p-values of all gated rows for multiple comparisons: holm (family-wise "
        f"error rate) or bh (false discovery rate); default {DEFAULT_CORRECTION}",
    )
    group.addoption(
        "--ow-regression-allow-fingerprint-mismatch",
        action="store_true",
        default=None,
        help="compare runs whose OpenWhisk fingerprints differ (a warning instead of an error)",
    )
    group.addoption(
        "--ow-regression-html",
        metavar="PATH",
        type=Path,
        default=None,
        help="also write the self-contained HTML comparison report to PATH",
    )
    for name, kind, help_text in (
        ("ow_regression", "linelist", "gate specs, one per line, e.g. p95:5% (see --ow-regression)"),
        ("ow_regression_baseline", "string", "baseline run (see --ow-regression-baseline)"),
        ("ow_regression_alpha", "string", "significance level (see --ow-regression-alpha)"),
        ("ow_regression_resamples", "string", "bootstrap resamples"),
        ("ow_regression_seed", "string", "bootstrap seed"),
        ("ow_regression_correction", "string", "multiple-comparison correction: none, holm or bh"),
        ("ow_regression_allow_fingerprint_mismatch", "string", "compare across fingerprints (on/off)"),
        ("ow_regression_html", "string", "HTML report path"),
    ):
        parser.addini(name, help_text, type=kind, default=None)  # type: ignore[arg-type]


@dataclass(frozen=True)
class RegressSettings:
    """Resolved gate settings; ``rules`` is empty when the gate is off."""

    rules: tuple[GateRule, ...] = ()
    baseline: str = "latest"
    baseline_explicit: bool = False
    alpha: float = DEFAULT_ALPHA
    resamples: int = DEFAULT_RESAMPLES
    seed: int = DEFAULT_SEED
    correction: str = DEFAULT_CORRECTION
    allow_fingerprint_mismatch: bool = False
    html: Path | None = None
    ignore_fingerprint_keys: frozenset[str] = field(default=VOLATILE_KEYS)

    @property
    def enabled(self) -> bool:
        """True when ``--ow-regression`` (or env / ini) gave at least one rule."""
        return bool(self.rules)

    @classmethod
    def from_config(cls, config: pytest.Config, env: Mapping[str, str] | None = None) -> RegressSettings:
        """Resolve every option once; bad values raise ``pytest.UsageError`` naming the source and value."""

        def get(
            option: str, parse: Callable[[str], Any], default: Any = None, multi: bool = False
        ) -> Resolved:
            return resolve_option(
                config,
                dest=option,
                flag="--" + option.replace("_", "-"),
                env_var=option.upper(),
                ini=option,
                parse=parse,
                default=default,
                multi=multi,
                env_split=None,
                env=env,
            )

        specs = get("ow_regression", parse_spec, (), multi=True)
        try:
            rules = tuple(parse_gate(list(specs.value))) if specs.value else ()
        except GateSpecError as exc:
            raise pytest.UsageError(f"{specs.origin}: {exc}") from None
        baseline = get("ow_regression_baseline", text)
        html = get("ow_regression_html", Path)
        return cls(
            rules=rules,
            baseline=str(baseline.value or "latest"),
            baseline_explicit=baseline.source != "default",
            alpha=get("ow_regression_alpha", parse_alpha, DEFAULT_ALPHA).value,
            resamples=get("ow_regression_resamples", parse_resamples, DEFAULT_RESAMPLES).value,
            seed=get("ow_regression_seed", parse_seed, DEFAULT_SEED).value,
            correction=get("ow_regression_correction", parse_correction, DEFAULT_CORRECTION).value,
            allow_fingerprint_mismatch=bool(
                get("ow_regression_allow_fingerprint_mismatch", parse_bool, False).value
            ),
            html=html.value,
        )
