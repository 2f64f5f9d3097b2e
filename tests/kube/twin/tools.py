"""``kind``, ``helm`` and ``docker`` stand-ins of the cluster twin (one entry point, chosen by argv[0]).

* ``kind create cluster --name N [--kubeconfig F] [--config C]`` starts the API stand-in
  (:mod:`tests.kube.twin.apiserver`) in its own session and writes a kubeconfig with its URL and token;
  ``kind get clusters``, ``kind get kubeconfig --name N``, ``kind delete cluster --name N``, ``kind version``.
* ``helm`` answers what pyhelm3 and our render command run: ``version``, ``show chart``,
  ``upgrade --install`` (renders the chart with helm-python-sdk, applies every object through the API,
  removes objects the new revision lacks, records the revision in a ConfigMap), ``status``, ``history``,
  ``get values``, ``uninstall`` and ``template``. Chart repositories are unreachable (offline).
* ``docker info`` says a daemon answers.

State lives under ``$TWIN_HOME/clusters/<name>/``; delays come from ``TWIN_READY_DELAY``,
``TWIN_ROLL_DELAY`` and ``TWIN_JOB_DELAY`` (seconds).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests
import yaml

ROOT = Path(__file__).resolve().parents[3]
HELM_VERSION = "v3.15.4"


def home() -> Path:
    """``$TWIN_HOME`` (required)."""
    return Path(os.environ["TWIN_HOME"])


def _flag(argv: list[str], name: str, default: str | None = None) -> str | None:
    for index, arg in enumerate(argv):
        if arg == name and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return default


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def kubeconfig_text(cluster: str, url: str, token: str) -> str:
    """A kubeconfig for the twin's API (context ``kind-<cluster>``)."""
    name = f"kind-{cluster}"
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": name,
            "preferences": {},
            "clusters": [{"name": name, "cluster": {"server": url}}],
            "users": [{"name": name, "user": {"token": token}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        }
    )


def start_cluster(name: str, config: dict[str, Any] | None, state: Path) -> dict[str, Any]:
    """Start the API stand-in for cluster ``name`` and wait for its server.json."""
    from pytest_openwhisk.wait import wait_until

    state.mkdir(parents=True, exist_ok=True)
    (state / "server.json").unlink(missing_ok=True)
    log = (state / "apiserver.log").open("ab")
    argv = [
        sys.executable,
        "-m",
        "tests.kube.twin.apiserver",
        "--state",
        str(state),
        "--cluster",
        name,
        "--nodes-json",
        json.dumps(config or {}),
        "--ready-delay",
        os.environ.get("TWIN_READY_DELAY", "0.3"),
        "--roll-delay",
        os.environ.get("TWIN_ROLL_DELAY", "0.3"),
        "--job-delay",
        os.environ.get("TWIN_JOB_DELAY", "0.3"),
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    proc = subprocess.Popen(
        argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, start_new_session=True
    )

    def ready() -> dict[str, Any] | None:
        if proc.poll() is not None:
            raise RuntimeError(f"API stand-in exited with {proc.returncode}; see {state / 'apiserver.log'}")
        path = state / "server.json"
        return json.loads(path.read_text()) if path.exists() else None

    info: dict[str, Any] = wait_until(ready, what="the twin's API server", timeout=60)
    return info


def stop_cluster(state: Path) -> None:
    """SIGTERM the API stand-in of ``state`` and wait until it is gone."""
    from pytest_openwhisk.wait import wait_until

    path = state / "server.json"
    if not path.exists():
        return
    pid = int(json.loads(path.read_text())["pid"])
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        try:
            wait_until(lambda: not _alive(pid), what=f"twin API server pid {pid} to stop", timeout=30)
        except Exception:
            os.kill(pid, signal.SIGKILL)
    path.unlink(missing_ok=True)


def clusters(root: Path | None = None) -> list[str]:
    """Names of running twin clusters (under ``root``, default ``$TWIN_HOME``)."""
    found = []
    for folder in sorted(((root or home()) / "clusters").glob("*")):
        path = folder / "server.json"
        if path.exists() and _alive(int(json.loads(path.read_text())["pid"])):
            found.append(folder.name)
    return found


def kind(argv: list[str]) -> int:
    """The ``kind`` stand-in."""
    if argv[:1] == ["version"]:
        print("kind v0.23.0-twin go1.22 linux/amd64")
        return 0
    name = _flag(argv, "--name", "kind") or "kind"
    state = home() / "clusters" / name
    if argv[:2] == ["get", "clusters"]:
        print("\n".join(clusters()))
        return 0
    if argv[:2] == ["get", "kubeconfig"]:
        if name not in clusters():
            print(
                f'ERROR: could not locate any control plane nodes for cluster named "{name}"', file=sys.stderr
            )
            return 1
        info = json.loads((state / "server.json").read_text())
        print(kubeconfig_text(name, info["url"], info["token"]), end="")
        return 0
    if argv[:2] == ["create", "cluster"]:
        if name in clusters():
            print(
                f'ERROR: failed to create cluster: node(s) already exist for a cluster named "{name}"',
                file=sys.stderr,
            )
            return 1
        config_path = _flag(argv, "--config")
        config = yaml.safe_load(Path(config_path).read_text()) if config_path else None
        info = start_cluster(name, config, state)
        target = _flag(argv, "--kubeconfig")
        if target:
            Path(target).write_text(kubeconfig_text(name, info["url"], info["token"]))
        print(f'Creating cluster "{name}" ...\nSet kubectl context to "kind-{name}"', file=sys.stderr)
        return 0
    if argv[:2] == ["delete", "cluster"]:
        stop_cluster(state)
        (home() / "deleted.log").open("a").write(name + "\n")
        print(f'Deleting cluster "{name}" ...', file=sys.stderr)
        return 0
    print(f"kind stand-in: unsupported {' '.join(argv)}", file=sys.stderr)
    return 2


# -- helm ------------------------------------------------------------------------------------------
class Api:
    """The twin API from a kubeconfig (``--kubeconfig``/``KUBECONFIG``, ``--kube-context``)."""

    def __init__(self, argv: list[str]) -> None:
        path = (
            _flag(argv, "--kubeconfig") or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube/config")
        )
        config = yaml.safe_load(Path(path).read_text())
        context_name = _flag(argv, "--kube-context") or config["current-context"]
        context = next(c["context"] for c in config["contexts"] if c["name"] == context_name)
        self.url = next(c["cluster"]["server"] for c in config["clusters"] if c["name"] == context["cluster"])
        token = next(u["user"].get("token") for u in config["users"] if u["name"] == context["user"])
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def path(self, kind: str, namespace: str, name: str = "") -> str:
        from tests.kube.twin.store import KINDS

        prefix, plural, namespaced = KINDS[kind]
        base = f"{prefix}/namespaces/{namespace}/{plural}" if namespaced else f"{prefix}/{plural}"
        return f"{self.url}{base}{'/' + name if name else ''}"

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        reply = self.session.get(self.path(kind, namespace, name), timeout=30)
        return None if reply.status_code == 404 else dict(reply.json())

    def list(self, kind: str, namespace: str, selector: str) -> list[dict[str, Any]]:
        reply = self.session.get(self.path(kind, namespace), params={"labelSelector": selector}, timeout=30)
        return list(reply.json()["items"])

    def apply(self, obj: dict[str, Any], namespace: str) -> None:
        kind, name = obj["kind"], obj["metadata"]["name"]
        current = self.get(kind, namespace, name)
        if current is None:
            reply = self.session.post(self.path(kind, namespace), json=obj, timeout=30)
        elif kind in ("Job", "Pod"):  # immutable specs: left as they are
            return
        else:
            reply = self.session.put(self.path(kind, namespace, name), json=obj, timeout=30)
        if reply.status_code >= 300:
            raise RuntimeError(f"applying {kind} {name}: HTTP {reply.status_code} {reply.text[:300]}")

    def delete(self, kind: str, namespace: str, name: str) -> None:
        self.session.delete(self.path(kind, namespace, name), timeout=30)


def _records(api: Api, namespace: str, release: str) -> list[dict[str, Any]]:
    items = api.list("ConfigMap", namespace, f"owner=helm,name={release}")
    records = [json.loads(item["data"]["release"]) for item in items]
    return sorted(records, key=lambda r: int(r["version"]))


def _render(
    chart_dir: str, values: dict[str, Any], release: str, namespace: str, revision: int
) -> list[dict[str, Any]]:
    import helm_python

    chart = helm_python.Chart.load(chart_dir)
    rendered = chart.render(
        values,
        name=release,
        namespace=namespace,
        revision=revision,
        is_install=revision == 1,
        is_upgrade=revision > 1,
    )
    objects = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        objects += [doc for doc in yaml.safe_load_all(text) if isinstance(doc, dict) and doc.get("kind")]
    return objects


def _status(record: dict[str, Any]) -> dict[str, Any]:
    return {
        key: record[key] for key in ("name", "namespace", "version", "info", "chart", "manifest", "config")
    }


def helm(argv: list[str]) -> int:
    """The ``helm`` stand-in."""
    command = argv[:2] if argv[:1] in (["show"], ["get"]) else argv[:1]
    rest = argv[len(command) :]
    namespace = _flag(argv, "--namespace", "default") or "default"
    if command == ["version"]:
        print(HELM_VERSION, end="")
        return 0
    if command == ["show", "chart"]:
        chart = Path(rest[0])
        if _flag(argv, "--repo") or not (chart / "Chart.yaml").exists():
            print("Error: twin is offline: chart repositories are unreachable", file=sys.stderr)
            return 1
        print((chart / "Chart.yaml").read_text())
        return 0
    if command == ["pull"]:
        print("Error: twin is offline: chart repositories are unreachable", file=sys.stderr)
        return 1
    if command == ["template"]:
        values = json.loads(sys.stdin.read() or "{}") if _flag(argv, "--values") == "-" else {}
        objects = _render(rest[1], values, rest[0], namespace, 1)
        print(yaml.safe_dump_all(objects, sort_keys=False))
        return 0
    api = Api(argv)
    release = rest[0] if rest else ""
    records = _records(api, namespace, release) if release else []
    if command == ["upgrade"]:
        chart_dir = rest[1]
        values = json.loads(sys.stdin.read() or "{}")
        revision = (int(records[-1]["version"]) + 1) if records else 1
        objects = _render(chart_dir, values, release, namespace, revision)
        if api.get("Namespace", "", namespace) is None:
            api.session.post(api.path("Namespace", ""), json={"metadata": {"name": namespace}}, timeout=30)
        for obj in objects:
            meta = obj.setdefault("metadata", {})
            meta.setdefault("labels", {})["app.kubernetes.io/managed-by"] = "Helm"
            meta.setdefault("annotations", {}).update(
                {"meta.helm.sh/release-name": release, "meta.helm.sh/release-namespace": namespace}
            )
            api.apply(obj, meta.get("namespace") or namespace)
        if records:
            kept = {(o["kind"], o["metadata"]["name"]) for o in objects}
            for old in yaml.safe_load_all(records[-1]["manifest"]):
                if isinstance(old, dict) and (old["kind"], old["metadata"]["name"]) not in kept:
                    api.delete(
                        old["kind"], old["metadata"].get("namespace") or namespace, old["metadata"]["name"]
                    )
        chart_meta = yaml.safe_load((Path(chart_dir) / "Chart.yaml").read_text())
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        record = {
            "name": release,
            "namespace": namespace,
            "version": revision,
            "info": {
                "status": "deployed",
                "first_deployed": records[0]["info"]["first_deployed"] if records else stamp,
                "last_deployed": stamp,
                "description": "Upgrade complete" if records else "Install complete",
            },
            "chart": {"metadata": chart_meta},
            "manifest": yaml.safe_dump_all(objects),
            "config": values,
            "chart_dir": chart_dir,
        }
        for old in records:
            old["info"]["status"] = "superseded"
            api.apply(_record_map(old, namespace), namespace)
        api.apply(_record_map(record, namespace), namespace)
        print(json.dumps(_status(record)))
        return 0
    if not records:
        print(f"Error: release: not found ({release})", file=sys.stderr)
        return 1
    wanted = _flag(argv, "--revision")
    record = next((r for r in records if str(r["version"]) == wanted), records[-1]) if wanted else records[-1]
    if command == ["status"]:
        print(json.dumps(_status(record)))
        return 0
    if command == ["history"]:
        print(
            json.dumps(
                [
                    {
                        "revision": r["version"],
                        "updated": r["info"]["last_deployed"],
                        "status": r["info"]["status"],
                        "chart": f"{r['chart']['metadata']['name']}-{r['chart']['metadata']['version']}",
                        "app_version": r["chart"]["metadata"].get("appVersion", ""),
                        "description": r["info"]["description"],
                    }
                    for r in records
                ]
            )
        )
        return 0
    if command == ["get", "values"]:
        values = record["config"]
        if "--all" in argv:
            import helm_python

            values = helm_python.Chart.load(record["chart_dir"]).merge_values(values)
        print(json.dumps(values))
        return 0
    if command == ["uninstall"]:
        for obj in yaml.safe_load_all(record["manifest"]):
            if isinstance(obj, dict):
                api.delete(
                    obj["kind"], obj["metadata"].get("namespace") or namespace, obj["metadata"]["name"]
                )
        for old in records:
            api.delete("ConfigMap", namespace, f"twin-helm.{release}.v{old['version']}")
        print(f'release "{release}" uninstalled')
        return 0
    print(f"helm stand-in: unsupported {' '.join(argv)}", file=sys.stderr)
    return 2


def _record_map(record: dict[str, Any], namespace: str) -> dict[str, Any]:
    return {
        "kind": "ConfigMap",
        "metadata": {
            "name": f"twin-helm.{record['name']}.v{record['version']}",
            "namespace": namespace,
            "labels": {
                "owner": "helm",
                "name": record["name"],
                "version": str(record["version"]),
                "status": record["info"]["status"],
            },
        },
        "data": {"release": json.dumps(record)},
    }


def docker(argv: list[str]) -> int:
    """The ``docker`` stand-in: a daemon answers."""
    if argv[:1] == ["info"]:
        print("27.0.0-twin")
        return 0
    print(f"docker stand-in: unsupported {' '.join(argv)}", file=sys.stderr)
    return 2


def main() -> int:
    """Dispatch on the program name."""
    tool = Path(sys.argv[0]).name
    handlers = {"kind": kind, "helm": helm, "docker": docker}
    return handlers[tool](sys.argv[1:])
