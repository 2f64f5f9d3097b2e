"""Fixtures of the A/B tests: the embedded OpenWhisk in a thread, a cold forcer, a git repository."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_openwhisk.client import OpenWhiskClient
from pytest_openwhisk.local.config import LocalConfig, PoolConfig
from pytest_openwhisk.local.server import LocalOpenWhisk

ECHO = "def main(args):\n    return {'side': args.get('side', '?')}\n"


@dataclass
class Evictor:
    """A cold forcer over the embedded server's admin call (what LocalBackend.force_cold does)."""

    server: LocalOpenWhisk
    calls: list[str]

    def force_cold(self, client: OpenWhiskClient, action: str) -> None:
        """Evict ``action``'s warm containers and remember the call."""
        self.calls.append(action)
        self.server.evict(action)


@pytest.fixture(scope="module")
def server() -> Iterator[LocalOpenWhisk]:
    """The embedded OpenWhisk in a thread of this process (no prewarm), one per module."""
    with LocalOpenWhisk(LocalConfig.benchmark(pool=PoolConfig(prewarm=(), user_memory_mb=1024))) as ow:
        yield ow


@pytest.fixture
def client(server: LocalOpenWhisk) -> Iterator[OpenWhiskClient]:
    """A client of :func:`server` with two actions, ``ab-base`` and ``ab-head``."""
    with OpenWhiskClient(server.apihost, server.auth, "_") as ow:
        ow.create_action("ab-base", ECHO, kind="python:3", params={"side": "base"})
        ow.create_action("ab-head", ECHO, kind="python:3", params={"side": "head"})
        yield ow


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` (no user config needed) and return its stdout."""
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with two commits: ``v1`` has functions/a.py; head adds functions/new.py."""
    root = tmp_path / "repo"
    (root / "functions" / "folder").mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    (root / "functions" / "a.py").write_text("def main(a):\n    return {'v': 1}\n")
    (root / "functions" / "folder" / "__main__.py").write_text("def main(a):\n    return {'v': 1}\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "v1")
    git(root, "tag", "v1")
    (root / "functions" / "a.py").write_text("def main(a):\n    return {'v': 2}\n")
    (root / "functions" / "new.py").write_text("def main(a):\n    return {'v': 0}\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "v2")
    return root
