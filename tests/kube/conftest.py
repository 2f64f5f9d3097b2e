"""Stand-ins for the Kubernetes API and the OpenWhisk API, and fake docker/kind/helm on PATH."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

HERE = Path(__file__).parent


def pod(name: str, labels: dict[str, str], ready: bool = True, waiting: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {
        "phase": "Running" if ready else "Pending",
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
    }
    if waiting:
        status["containerStatuses"] = [
            {
                "name": "main",
                "ready": False,
                "restartCount": 0,
                "image": "x",
                "imageID": "",
                "state": {"waiting": {"reason": waiting}},
            }
        ]
    return {
        "metadata": {"name": name, "namespace": "openwhisk", "labels": labels},
        "spec": {"containers": [{"name": "main", "image": f"openwhisk/{name.split('-')[1]}:ef725a6"}]},
        "status": status,
    }


@dataclass
class KubeState:
    """What the fake API server holds and every request it got."""

    nodes: dict[str, dict[str, str]] = field(
        default_factory=lambda: {
            "pytest-openwhisk-control-plane": {"node-role.kubernetes.io/control-plane": ""},
            "pytest-openwhisk-worker": {},
            "pytest-openwhisk-worker2": {},
        }
    )
    pods: list[dict[str, Any]] = field(default_factory=list)
    job_succeeded: bool = True
    requests: list[tuple[str, str, Any]] = field(default_factory=list)

    def default_release(self, name: str = "owdev") -> None:
        self.pods = [
            pod(f"{name}-controller-0", {"name": f"{name}-controller"}),
            pod(f"{name}-invoker-0", {"name": f"{name}-invoker"}),
            pod(
                "wskowdev-invoker-00-1-guest-hello",
                {"user-action-pod": "true", "openwhisk/action": "hello", "release": "owdev"},
            ),
            pod(
                "wskowdev-invoker-00-2-guest-other", {"user-action-pod": "true", "openwhisk/action": "other"}
            ),
        ]


def _matches(labels: dict[str, str], selector: str) -> bool:
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


class KubeHandler(BaseHTTPRequestHandler):
    state: KubeState

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.state.requests.append((method, self.path, body))
        parts = url.path.strip("/").split("/")
        if url.path == "/api/v1/nodes":
            items = [
                {
                    "metadata": {"name": n, "labels": labels},
                    "status": {"addresses": [{"type": "InternalIP", "address": f"172.18.0.{i + 2}"}]},
                }
                for i, (n, labels) in enumerate(sorted(self.state.nodes.items()))
            ]
            return self._send(200, {"kind": "NodeList", "apiVersion": "v1", "items": items})
        if parts[:3] == ["api", "v1", "nodes"] and method == "PATCH":
            self.state.nodes[parts[3]].update(body["metadata"]["labels"])
            return self._send(200, {"metadata": {"name": parts[3], "labels": self.state.nodes[parts[3]]}})
        if parts[:3] == ["api", "v1", "namespaces"] and parts[4:5] == ["pods"]:
            if len(parts) == 5:
                items = [
                    p
                    for p in self.state.pods
                    if _matches(p["metadata"]["labels"], query.get("labelSelector", ""))
                ]
                return self._send(200, {"kind": "PodList", "apiVersion": "v1", "items": items})
            if method == "DELETE":
                gone = [p for p in self.state.pods if p["metadata"]["name"] == parts[5]]
                self.state.pods = [p for p in self.state.pods if p["metadata"]["name"] != parts[5]]
                return self._send(200 if gone else 404, gone[0] if gone else {"kind": "Status", "code": 404})
            if parts[6:7] == ["log"]:
                data = b"waiting for kafka\n"
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return None
        if parts[:2] == ["apis", "batch"] and parts[5] == "jobs":
            if not self.state.job_succeeded:
                return self._send(200, {"metadata": {"name": parts[6]}, "status": {"active": 1}})
            return self._send(200, {"metadata": {"name": parts[6]}, "status": {"succeeded": 1}})
        if parts[:3] == ["api", "v1", "namespaces"] and parts[4:5] == ["services"]:
            return self._send(
                200,
                {
                    "metadata": {"name": parts[5]},
                    "spec": {
                        "type": "NodePort",
                        "ports": [
                            {"name": "http", "port": 80},
                            {"name": "https", "port": 443, "nodePort": 31001},
                        ],
                    },
                },
            )
        return self._send(404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404})

    def do_GET(self) -> None:
        self._route("GET")

    def do_PATCH(self) -> None:
        self._route("PATCH")

    def do_DELETE(self) -> None:
        self._route("DELETE")


@dataclass
class OpenWhiskState:
    actions: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            "hello": {
                "namespace": "guest",
                "name": "hello",
                "version": "0.0.1",
                "exec": {"kind": "python:3", "code": "def main(a): return a", "binary": False},
                "limits": {"timeout": 60000, "memory": 256},
                "parameters": [],
                "annotations": [],
            }
        }
    )
    requests: list[tuple[str, str, str]] = field(default_factory=list)


class OpenWhiskHandler(KubeHandler):
    ow: OpenWhiskState

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.ow.requests.append((method, self.path, self.headers.get("Authorization", "")))
        parts = url.path.strip("/").split("/")
        if url.path == "/api/v1":
            return self._send(200, {"api_paths": ["/api/v1"], "description": "OpenWhisk API"})
        if url.path == "/api/v1/namespaces":
            return self._send(200, ["guest"])  # type: ignore[arg-type]
        if parts[4:5] == ["actions"]:
            name = parts[5] if len(parts) > 5 else ""
            action = self.ow.actions.get(name)
            if method == "GET" and len(parts) == 5:
                return self._send(200, list(self.ow.actions.values()))  # type: ignore[arg-type]
            if action is None:
                return self._send(404, {"error": "The requested resource does not exist.", "code": "x"})
            if method == "PUT":
                major, minor, patch = action["version"].split(".")
                action.update(body, version=f"{major}.{minor}.{int(patch) + 1}")
            return self._send(200, action)
        return self._send(404, {"error": "not found", "code": "x"})

    def do_PUT(self) -> None:
        self._route("PUT")


def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def kube_api() -> Iterator[tuple[str, KubeState]]:
    """A Kubernetes API stand-in: URL and its state."""
    state = KubeState()
    handler = type("Handler", (KubeHandler,), {"state": state})
    for url in _serve(handler):
        yield url, state


@pytest.fixture
def ow_api() -> Iterator[tuple[str, OpenWhiskState]]:
    """An OpenWhisk API stand-in (namespaces, action get/put): URL and its state."""
    state = OpenWhiskState()
    handler = type("OWHandler", (OpenWhiskHandler,), {"ow": state, "state": KubeState()})
    for url in _serve(handler):
        yield url, state


@dataclass
class FakeTools:
    """Fake executables on PATH and what they recorded."""

    bin: Path
    state: Path
    log: Path

    def calls(self, tool: str | None = None) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        lines = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [c for c in lines if tool is None or c["tool"] == tool]

    def argvs(self, tool: str) -> list[list[str]]:
        return [c["argv"] for c in self.calls(tool)]


@pytest.fixture
def fake_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kube_api: tuple[str, KubeState]) -> FakeTools:
    """docker, kind and helm replaced by tests/kube/fake_tool.py; PATH holds nothing else of theirs."""
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    for tool in ("docker", "kind", "helm"):
        script = bin_dir / tool
        script.write_text(f"#!{sys.executable}\n" + (HERE / "fake_tool.py").read_text())
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_STATE", str(state))
    monkeypatch.setenv("FAKE_LOG", str(state / "calls.jsonl"))
    monkeypatch.setenv("FAKE_KUBE_URL", kube_api[0])
    monkeypatch.setenv("FAKE_CHART", str(HERE / "chart"))
    monkeypatch.delenv("FAKE_FAIL", raising=False)
    return FakeTools(bin_dir, state, state / "calls.jsonl")
