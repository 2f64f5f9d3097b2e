"""A ``git worktree`` of the base ref (``--ow-ab-base=GITREF``): created on entry, removed on exit.

:class:`BaseWorktree` checks the repository and the ref before it creates anything, so the errors are
plain: "not a git repository", "unknown ref". The worktree is detached (no branch is created), lives in
a temporary directory outside the repository, and is removed (``git worktree remove --force`` and
``git worktree prune``) by ``__exit__``, which also runs after Ctrl-C; :meth:`BaseWorktree.close` is
idempotent and also registered with :mod:`atexit` as a last resort. :meth:`BaseWorktree.locate` maps a
path of the working tree (head) to the same path at the ref, or reports it as new in head.
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from pytest_openwhisk.errors import ConfigError

#: every git call is bounded
GIT_TIMEOUT_S = 120.0
#: the temporary worktree directories are named with this prefix
PREFIX = "ow-ab-base-"


class AbBaseError(ConfigError):
    """``--ow-ab-base`` cannot be used: no git, not a repository, unknown ref (message says the fix)."""


@dataclass(frozen=True)
class Located:
    """Where a head path is at the base ref: ``path`` there, or None with ``reason`` (new in head)."""

    path: Path | None
    relative: str | None  # path relative to the repository root (None: outside the repository)
    reason: str = ""


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    git = shutil.which("git")
    if git is None:
        raise AbBaseError(
            "--ow-ab-base needs git on PATH; install git (e.g. apt-get install git) or drop --ow-ab-base"
        )
    return subprocess.run(
        [git, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT_S,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def repository_root(start: Path) -> Path:
    """The top of the git working tree containing ``start``; :class:`AbBaseError` when there is none."""
    probe = _git(["rev-parse", "--show-toplevel"], start)
    if probe.returncode != 0:
        raise AbBaseError(
            f"--ow-ab-base: {str(start)!r} is not inside a git repository "
            f"({probe.stderr.strip() or 'git rev-parse failed'}); run pytest from a git checkout "
            "or drop --ow-ab-base"
        )
    return Path(probe.stdout.strip()).resolve()


def resolve_ref(root: Path, ref: str) -> str:
    """The commit id ``ref`` names in the repository at ``root``; :class:`AbBaseError` if it names none."""
    if not ref or ref.startswith("-"):
        raise AbBaseError(
            f"--ow-ab-base={ref!r} is not a git ref; give a branch, tag or commit, e.g. "
            "--ow-ab-base=origin/main or --ow-ab-base=HEAD~1"
        )
    probe = _git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"], root)
    if probe.returncode != 0 or not probe.stdout.strip():
        raise AbBaseError(
            f"--ow-ab-base={ref!r}: unknown git ref in {str(root)!r}; give a branch, tag or "
            "commit that exists here (e.g. origin/main, HEAD~1, a sha; in CI fetch it first, "
            "e.g. actions/checkout with fetch-depth: 0)"
        )
    return probe.stdout.strip()


class BaseWorktree:
    """The base ref checked out as a detached git worktree in a temporary directory.

    ``with BaseWorktree(Path.cwd(), "origin/main") as base: base.locate(Path("functions/x.py"))``.
    """

    def __init__(self, start: Path, ref: str, parent: Path | None = None) -> None:
        self.start = start
        self.ref = ref
        self.parent = parent
        self.root: Path | None = None  # the repository (head) root
        self.commit: str | None = None
        self.path: Path | None = None  # the worktree
        self._registered = False

    def open(self) -> BaseWorktree:
        """Check the repository and the ref, then ``git worktree add --detach`` into a temporary directory."""
        self.root = repository_root(self.start)
        self.commit = resolve_ref(self.root, self.ref)
        _git(["worktree", "prune"], self.root)  # entries of worktrees a killed run could not remove
        target = Path(tempfile.mkdtemp(prefix=PREFIX, dir=self.parent))
        self.path = target
        if not self._registered:
            atexit.register(self.close)
            self._registered = True
        added = _git(["worktree", "add", "--detach", "--force", str(target), self.commit], self.root)
        if added.returncode != 0:
            self.close()
            raise AbBaseError(f"--ow-ab-base={self.ref!r}: git worktree add failed: {added.stderr.strip()}")
        return self

    def close(self) -> None:
        """Remove the worktree and its git entry (safe to call twice, and after a failed open)."""
        path, self.path = self.path, None
        if path is None:
            return
        if self.root is not None:
            _git(["worktree", "remove", "--force", "--force", str(path)], self.root)
        shutil.rmtree(path, ignore_errors=True)
        if self.root is not None:
            _git(["worktree", "prune"], self.root)

    def __enter__(self) -> BaseWorktree:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def locate(self, path: Path) -> Located:
        """The base version of head path ``path`` (file or folder; relative paths start at the repo root).

        A path outside the repository is not A/B-compared (``relative`` None); one that does not exist
        at the ref is new in head (``path`` None, with the reason).
        """
        if self.root is None or self.path is None:
            raise AbBaseError("the base worktree is not open; use BaseWorktree as a context manager")
        absolute = path if path.is_absolute() else self.root / path
        try:
            relative = absolute.resolve().relative_to(self.root)
        except ValueError:
            return Located(None, None, f"{str(path)!r} is outside the repository {str(self.root)!r}")
        at_base = self.path / relative
        if not at_base.exists():
            return Located(
                None,
                relative.as_posix(),
                f"{relative.as_posix()} is new in head (absent at {self.ref}): measured, not gated",
            )
        return Located(at_base, relative.as_posix())
