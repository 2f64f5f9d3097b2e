"""Fixtures of the cluster tests: the cluster twin (tests/kube/twin) on PATH."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent


@pytest.fixture
def twin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The cluster twin's kind/helm/docker first on PATH (fast delays); every twin cluster stopped after."""
    from tests.kube.twin.harness import TwinEnv, install_tools

    env = TwinEnv(install_tools(tmp_path / "twin-bin"), tmp_path / "twin-home")
    for key, value in env.env(ready=0.2, roll=0.3, job=0.2).items():
        if key in ("PATH", "TWIN_HOME") or key.startswith("TWIN_"):
            monkeypatch.setenv(key, value)
    try:
        yield env
    finally:
        env.stop_all()
