"""Every path and command in the code blocks of README.md and docs/*.md exists or runs.

A newcomer copies these blocks first. For each fenced block:

- a repository path (``functions/...``, ``benchmarks/...``, ``helm/...``, ``docs/...``, ...) exists;
- every ``--ow-*`` flag is one pytest accepts here (``pytest --help``);
- ``python -m MODULE`` names an importable module, ``pytest-openwhisk COMMAND`` an existing command;
- a ``python`` block compiles.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
#: top-level folders of this repository a block may name
TOP = ("functions", "benchmarks", "helm", "docs", "tests", "pytest_openwhisk", ".github", ".ci")
PATH = re.compile(rf"(?<![\w./-])((?:{'|'.join(re.escape(t) for t in TOP)})/[\w./-]*[\w/])")
FLAG = re.compile(r"(?<![\w-])(--ow-[a-z][a-z0-9-]*)")
MODULE = re.compile(r"python3? -m ([\w.]+)")
COMMAND = re.compile(r"(?<![\w-])pytest-openwhisk ([a-z][\w-]*)")


def blocks() -> list[tuple[str, str, str]]:
    """``(page, language, text)`` of every fenced code block."""
    found = []
    for page in PAGES:
        for match in FENCE.finditer(page.read_text(encoding="utf-8")):
            found.append((page.relative_to(ROOT).as_posix(), match.group(1), match.group(2)))
    return found


BLOCKS = blocks()
IDS = [f"{page}-{i}" for i, (page, _, _) in enumerate(BLOCKS)]


@cache
def known_flags() -> frozenset[str]:
    """Every ``--ow-*`` flag of the installed plugins, read from ``pytest --help``."""
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    ).stdout
    return frozenset(FLAG.findall(out))


def test_pages_have_code_blocks() -> None:
    assert len(BLOCKS) > 20
    assert {page for page, _, _ in BLOCKS} >= {"README.md", "docs/workload.md", "docs/plugin.md"}


@pytest.mark.parametrize(("page", "lang", "text"), BLOCKS, ids=IDS)
def test_block_paths_exist(page: str, lang: str, text: str) -> None:
    """Paths in code and commands (python, bash; ``$`` lines of console blocks), not in sample output."""
    if lang == "console":
        text = "\n".join(line for line in text.splitlines() if line.startswith("$ "))
    elif lang not in ("python", "bash", "sh", "shell", "yaml", "toml", "ini"):
        return
    missing = []
    for path in PATH.findall(text):
        if "<" in path or "*" in path or path.endswith("/..."):
            continue  # a placeholder or a glob, not a path
        if not (ROOT / path).exists():
            missing.append(path)
    assert not missing, f"{page} ({lang or 'text'} block) names paths that do not exist: {missing}"


@pytest.mark.parametrize(("page", "lang", "text"), BLOCKS, ids=IDS)
def test_block_commands_run(page: str, lang: str, text: str) -> None:
    if lang == "python":
        compile(text, f"{page} python block", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    for module in MODULE.findall(text):
        if module != "pytest":
            found = importlib.util.find_spec(module)
            assert found is not None, f"{page}: python -m {module} is not importable"
    if COMMAND.search(text):
        from pytest_openwhisk.cli import build_parser

        commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
        for command in COMMAND.findall(text):
            assert command in commands, f"{page}: `pytest-openwhisk {command}` is not a command"
    flags = set(FLAG.findall(text))
    if flags:
        unknown = sorted(flags - known_flags())
        assert not unknown, f"{page}: {unknown} are not options of pytest here (pytest --help)"
