"""Statistical regression gate: compare saved pytest-benchmark runs, report, fail CI on real slowdowns.

``plugin`` is the pytest plugin (entry point ``openwhisk-regress``, options ``--ow-regression*``);
``pytest-openwhisk compare`` (``pytest_openwhisk.cli``) is the command-line form. See docs/regression.md.
"""

from __future__ import annotations

from pytest_openwhisk.regress.gate import Comparison, GateReport, evaluate
from pytest_openwhisk.regress.load import Run, Storage, load_run
from pytest_openwhisk.regress.spec import GateRule, parse_gate

__all__ = ["Comparison", "GateReport", "GateRule", "Run", "Storage", "evaluate", "load_run", "parse_gate"]
