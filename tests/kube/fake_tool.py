"""A fake docker/kind/helm for the tests: records argv (and helm's stdin) and plays a tiny cluster.

Installed on PATH under each tool's name; behaviour is driven by environment variables:
FAKE_LOG (JSON lines of calls), FAKE_STATE (folder), FAKE_KUBE_URL (API server for kubeconfigs),
FAKE_FAIL (``tool:subcommand`` that should fail, e.g. ``helm:upgrade`` or ``docker:info``).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- cluster: {{server: {url}}}
  name: kind-{name}
contexts:
- context: {{cluster: kind-{name}, user: kind-{name}}}
  name: kind-{name}
current-context: kind-{name}
users:
- name: kind-{name}
  user: {{token: fake-token}}
"""


def option(argv: list[str], name: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
        if arg == f"--{name}" and i + 1 < len(argv):
            return argv[i + 1]
    return None


def main() -> int:
    tool = Path(sys.argv[0]).name
    argv = sys.argv[1:]
    state = Path(os.environ["FAKE_STATE"])
    record: dict[str, object] = {"tool": tool, "argv": argv, "KUBECONFIG": os.environ.get("KUBECONFIG")}
    if tool == "helm" and argv[:1] == ["upgrade"]:
        record["stdin"] = json.loads(sys.stdin.read() or "{}")
        chart_dir = Path(argv[2])
        record["chart_files"] = sorted(p.name for p in chart_dir.iterdir())
    with open(os.environ["FAKE_LOG"], "a") as log:
        log.write(json.dumps(record) + "\n")
    fail = os.environ.get("FAKE_FAIL", "")
    if fail and fail == f"{tool}:{argv[0] if argv else ''}":
        print(f"Error: fake {tool} {argv[0]} failure", file=sys.stderr)
        return 1
    clusters = state / "clusters"
    names = clusters.read_text().split() if clusters.exists() else []
    if tool == "docker":
        print("24.0.7")
    elif tool == "kind" and argv[:2] == ["get", "clusters"]:
        print("\n".join(names))
    elif tool == "kind" and argv[:2] == ["create", "cluster"]:
        name = option(argv, "name") or "kind"
        shutil.copy(option(argv, "config") or "/dev/null", state / "kind-config.yaml")
        Path(option(argv, "kubeconfig") or "/dev/null").write_text(
            KUBECONFIG.format(url=os.environ["FAKE_KUBE_URL"], name=name)
        )
        clusters.write_text("\n".join([*names, name]))
    elif tool == "kind" and argv[:2] == ["get", "kubeconfig"]:
        print(KUBECONFIG.format(url=os.environ["FAKE_KUBE_URL"], name=option(argv, "name")))
    elif tool == "kind" and argv[:2] == ["delete", "cluster"]:
        clusters.write_text("\n".join(n for n in names if n != option(argv, "name")))
    elif tool == "helm" and argv[:1] == ["version"]:
        print("v3.14.4", end="")
    elif tool == "helm" and argv[:1] == ["status"]:
        if not (state / f"release-{argv[1]}").exists():
            print("Error: release: not found", file=sys.stderr)
            return 1
        print(json.dumps(status(argv[1], option(argv, "namespace") or "default")))
    elif tool == "helm" and argv[:1] == ["pull"]:
        source = Path(os.environ["FAKE_CHART"])
        shutil.copytree(source, Path(option(argv, "destination") or ".") / source.name)
    elif tool == "helm" and argv[:2] == ["show", "chart"]:
        print((Path(argv[2]) / "Chart.yaml").read_text())
    elif tool == "helm" and argv[:1] == ["upgrade"]:
        (state / f"release-{argv[1]}").write_text("installed")
        print(json.dumps(status(argv[1], option(argv, "namespace") or "default")))
    elif tool == "helm" and argv[:1] == ["uninstall"]:
        (state / f"release-{argv[1]}").unlink(missing_ok=True)
    return 0


def status(name: str, namespace: str) -> dict[str, object]:
    return {
        "name": name,
        "namespace": namespace,
        "version": 1,
        "manifest": "",
        "info": {"status": "deployed", "last_deployed": "2024-07-31T00:00:00Z"},
    }


if __name__ == "__main__":
    sys.exit(main())
