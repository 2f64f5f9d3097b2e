"""The base worktree on a real git repository: locate, new in head, errors, removal (also on Ctrl-C)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_openwhisk.ab.worktree import AbBaseError, BaseWorktree

from .conftest import git


def worktrees(repo: Path) -> list[str]:
    return [
        line
        for line in git(repo, "worktree", "list", "--porcelain").splitlines()
        if line.startswith("worktree ")
    ]


def test_base_files_and_folders_come_from_the_ref(repo: Path) -> None:
    with BaseWorktree(repo, "v1") as base:
        assert base.path is not None
        assert len(worktrees(repo)) == 2
        found = base.locate(Path("functions/a.py"))
        assert found.path is not None
        assert found.path.read_text() == "def main(a):\n    return {'v': 1}\n"
        assert (repo / "functions/a.py").read_text().endswith("{'v': 2}\n")  # head untouched
        folder = base.locate(repo / "functions" / "folder")
        assert folder.path is not None
        assert (folder.path / "__main__.py").is_file()
        new = base.locate(Path("functions/new.py"))
        assert new.path is None
        assert new.relative == "functions/new.py"
        assert "new in head (absent at v1): measured, not gated" in new.reason
        outside = base.locate(repo.parent)
        assert outside.path is None
        assert outside.relative is None
        where = base.path
    assert not where.exists()
    assert len(worktrees(repo)) == 1


def test_worktree_removed_after_ctrl_c(repo: Path) -> None:
    opened: list[Path | None] = []

    def interrupted() -> None:
        with BaseWorktree(repo, "HEAD~1") as base:
            opened.append(base.path)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    where = opened[0]
    assert where is not None
    assert not where.exists()
    assert len(worktrees(repo)) == 1


def test_close_is_idempotent_and_subdirectory_finds_the_root(repo: Path) -> None:
    base = BaseWorktree(repo / "functions", "v1").open()
    assert base.root == repo.resolve()
    base.close()
    base.close()
    assert len(worktrees(repo)) == 1


def test_not_a_git_repository(tmp_path: Path) -> None:
    with pytest.raises(AbBaseError, match=r"is not inside a git repository.*drop --ow-ab-base"):
        BaseWorktree(tmp_path, "main").open()


@pytest.mark.parametrize("ref", ["no-such-branch", "-x", ""])
def test_unknown_ref(repo: Path, ref: str) -> None:
    with pytest.raises(AbBaseError, match=re.escape(f"--ow-ab-base={ref!r}")):
        BaseWorktree(repo, ref).open()
    assert len(worktrees(repo)) == 1
