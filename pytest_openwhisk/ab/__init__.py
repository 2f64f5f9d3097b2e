"""Interleaved A/B benchmarking: base and head measured in random-order pairs in one run, paired verdicts.

* :mod:`~pytest_openwhisk.ab.runner`: the interleaved runners (warm, cold, concurrent; warm A/Bs spread
  each side over several successive containers).
* :mod:`~pytest_openwhisk.ab.paired`: randomization test, its interval and the weighted pairwise median.
* :mod:`~pytest_openwhisk.ab.gate`: verdicts per metric (``--ow-regression`` grammar) as a ``GateReport``.
* :mod:`~pytest_openwhisk.ab.worktree`: the base ref as a temporary ``git worktree`` (``--ow-ab-base``).
* :mod:`~pytest_openwhisk.ab.noise`: a bounded, seeded CPU noise generator for the gate benchmarks.

See docs/regression.md.
"""

from __future__ import annotations

from pytest_openwhisk.ab.gate import DEFAULT_AB_SPEC, AbComparison, evaluate
from pytest_openwhisk.ab.paired import PairedResult, compare_paired
from pytest_openwhisk.ab.runner import AbInterrupted, AbResult, run_ab, run_ab_concurrent
from pytest_openwhisk.ab.worktree import AbBaseError, BaseWorktree

__all__ = [
    "DEFAULT_AB_SPEC",
    "AbBaseError",
    "AbComparison",
    "AbInterrupted",
    "AbResult",
    "BaseWorktree",
    "PairedResult",
    "compare_paired",
    "evaluate",
    "run_ab",
    "run_ab_concurrent",
]
