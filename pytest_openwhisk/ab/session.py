"""The A/B state of one pytest session: the base worktree, the base actions, the comparisons, the gate.

:class:`AbSession` is stashed in ``config.stash[AB_KEY]`` whenever A/B measurements may happen
(``ow_bench.ab`` always, ``--ow-ab-base=GITREF`` for the automatic A/B of actions deployed from the
repository). Every A/B measured in the session is added with :meth:`AbSession.add`; at the end
:meth:`AbSession.finish` evaluates the paired gate (thresholds: an ``ow_ab`` marker, else
``--ow-regression``, else :data:`~pytest_openwhisk.ab.gate.DEFAULT_AB_SPEC`), writes the HTML report
(``--ow-regression-html``) and tells the plugin whether the session must exit 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_openwhisk.ab import gate
from pytest_openwhisk.ab.worktree import BaseWorktree
from pytest_openwhisk.regress.gate import DEFAULT_ALPHA, DEFAULT_CORRECTION, DEFAULT_RESAMPLES, DEFAULT_SEED
from pytest_openwhisk.regress.spec import GateRule
from pytest_openwhisk.regress.table import format_report

if TYPE_CHECKING:
    from pytest_openwhisk.actions import Action, ActionFactory
    from pytest_openwhisk.regress.gate import GateReport

#: suffix of the deployed name of an action's base version (``<name>.ab-base``)
BASE_SUFFIX = ".ab-base"


@dataclass(frozen=True)
class BaseSide:
    """The base version of a head action: deployed (``action``) or new in head (``note`` says why not)."""

    action: Action | None
    note: str = ""


@dataclass(frozen=True)
class GateSettings:
    """What the A/B gate takes from ``--ow-regression*`` (or its defaults)."""

    rules: tuple[GateRule, ...] = ()  # empty: DEFAULT_AB_SPEC
    alpha: float = DEFAULT_ALPHA
    resamples: int = DEFAULT_RESAMPLES
    seed: int = DEFAULT_SEED
    correction: str = DEFAULT_CORRECTION
    html: Path | None = None

    @classmethod
    def from_config(cls, config: pytest.Config) -> GateSettings:
        """Read ``--ow-regression*`` through the regression gate's own settings (same precedence, errors)."""
        from pytest_openwhisk.regress.settings import RegressSettings

        regress = RegressSettings.from_config(config)
        return cls(
            rules=regress.rules,
            alpha=regress.alpha,
            resamples=regress.resamples,
            seed=regress.seed,
            correction=regress.correction,
            html=regress.html,
        )

    def default_rules(self) -> list[GateRule]:
        """``--ow-regression`` rules, or the rules of :data:`~pytest_openwhisk.ab.gate.DEFAULT_AB_SPEC`."""
        return list(self.rules) if self.rules else gate.default_rules()


@dataclass
class AbSession:
    """A/B state of the session (see the module docstring)."""

    settings: GateSettings = field(default_factory=GateSettings)
    ref: str | None = None  # --ow-ab-base
    worktree: BaseWorktree | None = None
    comparisons: list[gate.AbComparison] = field(default_factory=list)
    bases: dict[str, BaseSide] = field(default_factory=dict)  # head deployed name -> base side
    report: GateReport | None = None
    notes: list[str] = field(default_factory=list)
    marker_rules: dict[str, list[GateRule]] = field(default_factory=dict)  # node id -> ow_ab rules
    bypass: bool = False  # set while a new-in-head action is measured the usual way

    @property
    def base_label(self) -> str:
        """How the base side is named in tables: ``base (GITREF)`` or ``base``."""
        return f"base ({self.ref})" if self.ref else "base"

    def open(self, rootpath: Path) -> None:
        """Create the base worktree for ``--ow-ab-base`` (raises ``AbBaseError`` with the fix)."""
        if self.ref is not None and self.worktree is None:
            self.worktree = BaseWorktree(rootpath, self.ref).open()

    def close(self) -> None:
        """Remove the base worktree (idempotent; runs after Ctrl-C too)."""
        if self.worktree is not None:
            self.worktree.close()

    # -- actions ----------------------------------------------------------------------------------------

    def deploy_base(
        self, factory: ActionFactory, head: Action, name: str, source: str | Path, options: Mapping[str, Any]
    ) -> BaseSide | None:
        """Deploy the base version of ``head`` (deployed from ``source``) when it is inside the repository.

        Returns the base side (None when ``source`` is outside the repository: not A/B-compared). An
        action absent at the ref is recorded as new in head.
        """
        if self.worktree is None or name.endswith(BASE_SUFFIX):
            return None
        located = self.worktree.locate(
            Path(source) if Path(source).is_absolute() else Path(factory.root) / source
        )
        if located.relative is None:
            return None
        if located.path is None:
            side = BaseSide(None, located.reason)
        else:
            side = BaseSide(factory(f"{name}{BASE_SUFFIX}", located.path, **options))
        self.bases[head.name] = side
        return side

    def base_for(self, action: object) -> BaseSide | None:
        """The base side of a head action deployed in this session (None: not A/B-compared)."""
        name = action if isinstance(action, str) else getattr(action, "name", None)
        return self.bases.get(name) if isinstance(name, str) else None

    # -- gate -------------------------------------------------------------------------------------------

    def add(self, comparison: gate.AbComparison) -> None:
        """Remember one A/B for the session's gate table."""
        self.comparisons.append(comparison)

    def evaluate(self, comparisons: Sequence[gate.AbComparison]) -> GateReport:
        """The paired gate over ``comparisons`` with this session's alpha, resamples, seed, correction."""
        s = self.settings
        return gate.evaluate(
            comparisons,
            alpha=s.alpha,
            resamples=s.resamples,
            seed=s.seed,
            correction=s.correction,
            base_label=self.base_label,
            head_label="head",
        )

    def finish(self) -> bool:
        """Evaluate every A/B of the session; write the HTML report; False when a row regressed."""
        if not self.comparisons:
            if self.ref is not None:
                self.notes.append(
                    f"--ow-ab-base={self.ref}: no ow_bench measurement of an action deployed "
                    "from the repository, nothing compared"
                )
            return True
        self.report = self.evaluate(self.comparisons)
        if self.settings.html is not None:
            from pytest_openwhisk.regress.html import write_report

            write_report(self.report, self.settings.html)
            self.notes.append(f"HTML report: {self.settings.html}")
        return self.report.passed

    def summary_lines(self) -> list[str]:
        """The gate table (terminal summary) and notes."""
        lines = []
        if self.report is not None:
            lines.append(
                "paired randomization test on interleaved pairs (resamples = re-randomizations; n = pairs)"
            )
            lines += format_report(self.report)
            lines += [
                f"{row.benchmark}: {row.reason}"
                for row in self.report.comparisons
                if row.verdict == gate.NEW_IN_HEAD
            ]
        return lines + self.notes


AB_KEY = pytest.StashKey[AbSession]()
