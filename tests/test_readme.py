"""The README's tour example runs as written against the embedded backend."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tour_code() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## A tour", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README.md '## A tour' has no python example"
    return match.group(1)


def test_readme_commands_are_first() -> None:
    """README starts with the main-job and test commands that .ci/run extracts."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    head = text[:600]
    assert "<!-- main-command -->" in head
    assert "<!-- test-command -->" in head
    assert "python -m pytest benchmarks" in head
    assert "python -m pytest tests" in head


def test_readme_tour_runs(pytester: pytest.Pytester) -> None:
    """The tour test passes as written: deploys, checks output, measures cold/warm/concurrent, SLO holds."""
    shutil.copytree(ROOT / "functions" / "base64-python", pytester.path / "functions" / "base64-python")
    pytester.makepyfile(test_tour=_tour_code())
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--benchmark-disable")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*openwhisk measurements*", "*cold*cold*10*", "*warm*warm*200*"])
