"""Where the upstream reference data lives (``../shared/charts``) and skips naming it when absent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared" / "charts"
CHART = SHARED / "openwhisk"
UPSTREAM_RUNTIMES = SHARED / "openwhisk-runtimes-upstream.json"


def chart_dir() -> Path:
    """The upstream openwhisk-deploy-kube chart, or a skip naming the folder."""
    if not (CHART / "Chart.yaml").is_file():
        pytest.skip(f"upstream chart not present at {CHART} (see ../shared/charts/README.md)")
    return CHART


def upstream_runtimes() -> dict[str, Any]:
    """apache/openwhisk ansible/files/runtimes.json, or a skip naming the file."""
    if not UPSTREAM_RUNTIMES.is_file():
        pytest.skip(f"upstream runtimes manifest not present at {UPSTREAM_RUNTIMES}")
    data: dict[str, Any] = json.loads(UPSTREAM_RUNTIMES.read_text())
    return data


def env_of(obj: dict[str, Any], container: str) -> dict[str, str]:
    """name -> value of the env of ``container`` in a Deployment/StatefulSet/Job/Pod object."""
    spec = obj["spec"]
    pod = spec.get("template", {}).get("spec", spec)
    for item in pod["containers"]:
        if item["name"] == container:
            return {e["name"]: str(e.get("value", "")) for e in item.get("env", [])}
    raise KeyError(f"no container {container!r} in {obj['metadata']['name']}")
