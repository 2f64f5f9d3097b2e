"""Putting the twin's stand-ins on PATH for a test (or a pytester run of the main suite)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.kube.twin.tools import ROOT, clusters, stop_cluster

TOOLS = ("kind", "helm", "docker")


def install_tools(bin_dir: Path) -> Path:
    """Executables ``kind``, ``helm``, ``docker`` in ``bin_dir`` running :mod:`tests.kube.twin.tools`."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for tool in TOOLS:
        script = bin_dir / tool
        script.write_text(
            f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(ROOT)!r})\n"
            "from tests.kube.twin.tools import main\nsys.exit(main())\n"
        )
        script.chmod(0o755)
    return bin_dir


@dataclass
class TwinEnv:
    """Where the twin lives for one test: its stand-ins' folder and state, and the environment to use."""

    bin: Path
    home: Path

    def env(self, **delays: float) -> dict[str, str]:
        """``os.environ`` with the stand-ins first on PATH and the twin's settings."""
        extra = {f"TWIN_{k.upper()}_DELAY": str(v) for k, v in delays.items()}
        return {
            **os.environ,
            "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "TWIN_HOME": str(self.home),
            **extra,
        }

    def stop_all(self) -> None:
        """Stop every twin cluster still running (a test that failed half-way)."""
        for name in clusters(self.home):
            stop_cluster(self.home / "clusters" / name)

    def deleted(self) -> list[str]:
        """Clusters ``kind delete cluster`` was asked to delete."""
        path = self.home / "deleted.log"
        return path.read_text().split() if path.exists() else []
