"""Session-start check of the cluster backends: every missing tool named with its install step (issue 10)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_openwhisk.backends.existing import ExistingBackend
from pytest_openwhisk.backends.kind import KindBackend
from pytest_openwhisk.options import Settings


def test_kind_names_every_missing_tool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    problems = KindBackend.preflight(Settings(cluster="kind"))
    assert [p.split("'")[1] for p in problems] == ["docker", "kind", "helm"]
    assert "https://docs.docker.com/engine/install/" in problems[0]
    assert "go install sigs.k8s.io/kind" in problems[1]
    assert "get-helm-3" in problems[2]


def test_kind_ready_with_the_tools(twin: Any) -> None:
    assert KindBackend.preflight(Settings(cluster="kind")) == []


def test_existing_needs_helm_only_with_a_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert ExistingBackend.preflight(Settings(cluster="existing", apihost="h", auth="a:b")) == []
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("{}")
    problems = ExistingBackend.preflight(Settings(cluster="existing", kubeconfig=kubeconfig))
    assert len(problems) == 1
    assert (
        "'helm' was not found on PATH (needed by --ow-cluster=existing with --ow-kubeconfig)" in problems[0]
    )
