"""The cluster twin's Kubernetes API (aiohttp, loopback, bearer token) with its controllers.

Stores what Helm applies, answers the real ``kubernetes`` client, and plays the cluster:
Deployments/StatefulSets get pods that become Ready after ``ready_delay`` (a changed pod template rolls
them: old pods go after ``roll_delay``, new ones come up), Jobs succeed after ``job_delay`` (the
gen-certs Job stores the nginx certificate, like ``gencerts.sh``), and once the release's controller,
invoker and nginx run, its OpenWhisk (:mod:`tests.kube.twin.openwhisk`) serves on the nginx NodePort.
Warm and prewarmed containers of that OpenWhisk appear as action pods with the Kubernetes container
factory's labels; deleting one evicts the action's containers.

Run: ``python -m tests.kube.twin.apiserver --state DIR [--ready-delay S] [--roll-delay S] [--job-delay S]``;
it writes ``DIR/server.json`` (url, token, pid) when it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import secrets
import signal
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.kube.twin.openwhisk import Rendered, action_pod_name, rendered_from, tls_pair
from tests.kube.twin.store import BY_PLURAL, KINDS, Store, merge_patch


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _status(code: int, reason: str, message: str) -> web.Response:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    return web.json_response(body, status=code)


class Twin:
    """State and controllers of the twin cluster."""

    def __init__(
        self,
        state: Path,
        token: str,
        *,
        ready_delay: float,
        roll_delay: float,
        job_delay: float,
        nodes: list[tuple[str, dict[str, str]]],
    ) -> None:
        self.state = state
        self.token = token
        self.store = Store()
        self.ready_delay, self.roll_delay, self.job_delay = ready_delay, roll_delay, job_delay
        self.born: dict[str, float] = {}  # pod uid -> when it was created
        self.doomed: dict[str, float] = {}  # pod uid -> when an old-revision pod goes away
        self.openwhisk: Any = None
        self.signature: Rendered | None = None
        self.action_pods: dict[int, str] = {}  # id(pool entry) -> pod name
        self.pod_numbers = 0
        for name, labels in nodes:
            self.store.put(
                {
                    "kind": "Node",
                    "metadata": {"name": name, "labels": labels},
                    "spec": {},
                    "status": {
                        "addresses": [
                            {"type": "InternalIP", "address": "127.0.0.1"},
                            {"type": "Hostname", "address": name},
                        ],
                        "conditions": [{"type": "Ready", "status": "True"}],
                    },
                }
            )
        self.store.put({"kind": "Namespace", "metadata": {"name": "default"}, "spec": {}})

    # -- HTTP ------------------------------------------------------------------------------------
    @web.middleware
    async def auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Every request needs the bearer token of the kubeconfig."""
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _status(401, "Unauthorized", "Unauthorized")
        result: web.StreamResponse = await handler(request)
        return result

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application(middlewares=[self.auth])
        app.router.add_route("*", "/{path:.*}", self.route)
        return app

    async def route(self, request: web.Request) -> web.StreamResponse:
        """Dispatch /api/v1/... and /apis/<group>/<version>/... to the store."""
        parts = [p for p in request.path.split("/") if p]
        if parts[:2] == ["api", "v1"]:
            rest = parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            rest = parts[3:]
        elif parts in (["version"], ["healthz"], ["readyz"]):
            return web.json_response({"major": "1", "minor": "30", "gitVersion": "v1.30.0-twin"})
        else:
            return _status(
                404, "NotFound", f"the server could not find the requested resource {request.path}"
            )
        namespace = ""
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        if not rest or rest[0] not in BY_PLURAL:
            return _status(404, "NotFound", f"unknown resource {request.path}")
        kind = BY_PLURAL[rest[0]]
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        body = None
        if request.can_read_body:
            raw = await request.read()
            body = json.loads(raw) if raw else None
        return await self.handle(request.method, kind, namespace, name, sub, body, dict(request.query))

    async def handle(
        self, method: str, kind: str, namespace: str, name: str, sub: str, body: Any, query: dict[str, str]
    ) -> web.StreamResponse:
        """One REST verb on one resource."""
        store = self.store
        if not name:
            if method == "GET":
                items = store.list(
                    kind, namespace if KINDS[kind][2] else None, query.get("labelSelector", "")
                )
                api = items[0]["apiVersion"] if items else KINDS[kind][0].split("/", 2)[-1]
                return web.json_response(
                    {
                        "kind": f"{kind}List",
                        "apiVersion": api,
                        "metadata": {"resourceVersion": "1"},
                        "items": items,
                    }
                )
            if method == "POST":
                meta = body.setdefault("metadata", {})
                meta["namespace"] = namespace
                if store.get(kind, namespace, meta["name"]) is not None:
                    return _status(409, "AlreadyExists", f'{kind} "{meta["name"]}" already exists')
                body["kind"] = kind
                return web.json_response(self.created(store.put(body)), status=201)
            return _status(405, "MethodNotAllowed", method)
        current = store.get(kind, namespace, name)
        if sub == "log":
            if current is None:
                return _status(404, "NotFound", f'pods "{name}" not found')
            return web.Response(text=f"{name}: twin pod log\n")
        if method == "GET":
            if current is None:
                return _status(404, "NotFound", f'{kind.lower()}s "{name}" not found')
            return web.json_response(current)
        if method == "DELETE":
            gone = store.delete(kind, namespace, name)
            if gone is None:
                return _status(404, "NotFound", f'{kind.lower()}s "{name}" not found')
            await self.deleted(gone)
            return web.json_response(gone)
        if method in ("PUT", "PATCH"):
            if current is None and method == "PATCH":
                return _status(404, "NotFound", f'{kind.lower()}s "{name}" not found')
            if method == "PATCH":
                if not isinstance(body, dict):
                    return _status(415, "UnsupportedMediaType", "only merge patches are supported")
                new = merge_patch(current, body)
            else:
                new = dict(body)
                new.setdefault("metadata", {})["name"] = name
            new["kind"] = kind
            if KINDS[kind][2]:
                new["metadata"]["namespace"] = namespace
            if sub == "status" and current is not None:
                new = {**current, "status": new.get("status")}
            return web.json_response(store.put(new))
        return _status(405, "MethodNotAllowed", method)

    def created(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Bookkeeping for a new object."""
        if obj["kind"] == "Pod":
            self.born.setdefault(obj["metadata"]["uid"], time.monotonic())
            obj.setdefault("status", {"phase": "Pending"})
        if obj["kind"] == "Namespace":
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
        return obj

    async def deleted(self, obj: dict[str, Any]) -> None:
        """A deleted action pod evicts that action's containers (the pod is gone, so is the container)."""
        labels = obj["metadata"].get("labels") or {}
        if obj["kind"] == "Pod" and labels.get("user-action-pod") == "true" and self.openwhisk is not None:
            action = labels.get("openwhisk/action")
            ns = labels.get("openwhisk/namespace", "guest")
            if action:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self.openwhisk.evict, f"{ns}/{action}")

    # -- controllers -----------------------------------------------------------------------------
    async def reconcile_forever(self) -> None:
        """Run the controllers every 100 ms."""
        while True:
            try:
                await self.reconcile()
            except Exception as exc:  # a bug in the twin must be visible, not kill it
                (self.state / "errors.log").open("a").write(f"{_now()} {type(exc).__name__}: {exc}\n")
            await asyncio.sleep(0.1)

    async def reconcile(self) -> None:
        """One pass: workloads, jobs, bare pods, OpenWhisk, action pods."""
        now = time.monotonic()
        for kind in ("Deployment", "StatefulSet"):
            for obj in self.store.list(kind):
                self.roll(obj, now)
        for job in self.store.list("Job"):
            self.run_job(job, now)
        for pod in self.store.list("Pod"):
            self.bring_up(pod, now)
        await self.sync_openwhisk()
        await self.sync_action_pods()

    def _template_hash(self, obj: dict[str, Any]) -> str:
        text = json.dumps(obj["spec"].get("template", {}), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:10]

    def roll(self, obj: dict[str, Any], now: float) -> None:
        """Pods of the current template, Ready after ``ready_delay``; old ones go after ``roll_delay``."""
        meta, spec = obj["metadata"], obj["spec"]
        namespace, name = meta["namespace"], meta["name"]
        revision = f"{name}-{self._template_hash(obj)}"
        want = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
        owner = f"{obj['kind']}.{name}"
        pods = [
            p
            for p in self.store.list("Pod", namespace)
            if p["metadata"].get("annotations", {}).get("twin/owner") == owner
        ]
        current = [p for p in pods if p["metadata"]["annotations"].get("twin/revision") == revision]
        old = [p for p in pods if p not in current]
        for pod in old:
            uid = pod["metadata"]["uid"]
            when = self.doomed.setdefault(uid, now + self.roll_delay)
            if now >= when:
                self.store.delete("Pod", namespace, pod["metadata"]["name"])
        if not old or all(now >= self.doomed.get(p["metadata"]["uid"], 0) for p in old):
            for index in range(len(current), want):
                self.new_pod(obj, revision, owner, index, now)
        pods = [
            p
            for p in self.store.list("Pod", namespace)
            if p["metadata"].get("annotations", {}).get("twin/owner") == owner
        ]
        current = [p for p in pods if p["metadata"]["annotations"].get("twin/revision") == revision]
        ready = [p for p in pods if self.is_ready(p)]
        status = obj.setdefault("status", {})
        status.update(
            {
                "observedGeneration": meta.get("generation", 1),
                "replicas": len(pods),
                "updatedReplicas": len(current),
                "readyReplicas": len(ready),
                "availableReplicas": len(ready),
            }
        )
        if obj["kind"] == "StatefulSet":
            status["updateRevision"] = revision
            status["currentReplicas"] = len(current)
            if len(current) == want and all(self.is_ready(p) for p in current) and len(pods) == want:
                status["currentRevision"] = revision

    def new_pod(self, owner_obj: dict[str, Any], revision: str, owner: str, index: int, now: float) -> None:
        """A pod from the workload's template."""
        meta = owner_obj["metadata"]
        template = owner_obj["spec"].get("template", {})
        name = (
            f"{meta['name']}-{index}"
            if owner_obj["kind"] == "StatefulSet"
            else f"{meta['name']}-{revision[-10:]}-{secrets.token_hex(3)}"
        )
        if self.store.get("Pod", meta["namespace"], name) is not None:
            return
        pod = {
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": meta["namespace"],
                "labels": dict(template.get("metadata", {}).get("labels") or {}),
                "annotations": {
                    **(template.get("metadata", {}).get("annotations") or {}),
                    "twin/owner": owner,
                    "twin/revision": revision,
                },
            },
            "spec": template.get("spec", {}),
            "status": {"phase": "Pending"},
        }
        pod = self.created(self.store.put(pod))
        self.born[pod["metadata"]["uid"]] = now

    def is_ready(self, pod: dict[str, Any]) -> bool:
        """Ready condition set."""
        return any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in pod.get("status", {}).get("conditions") or []
        )

    def bring_up(self, pod: dict[str, Any], now: float) -> None:
        """Pending -> Running and Ready after ``ready_delay`` (job pods are handled by their job)."""
        if self.is_ready(pod) or pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            return
        if "twin/job" in pod["metadata"].get("annotations", {}):
            return
        born = self.born.setdefault(pod["metadata"]["uid"], now)
        if now - born < self.ready_delay:
            return
        containers = pod.get("spec", {}).get("containers") or []
        pod["status"] = {
            "phase": "Running",
            "startTime": _now(),
            "podIP": "127.0.0.1",
            "hostIP": "127.0.0.1",
            "conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "ContainersReady", "status": "True"},
            ],
            "containerStatuses": [
                {
                    "name": c.get("name", "c"),
                    "image": c.get("image", ""),
                    "imageID": "",
                    "ready": True,
                    "restartCount": 0,
                    "started": True,
                    "state": {"running": {"startedAt": _now()}},
                }
                for c in containers
            ],
        }

    def run_job(self, job: dict[str, Any], now: float) -> None:
        """A pod per job; success after ``job_delay``; gen-certs stores the nginx certificate."""
        status = job.setdefault("status", {})
        if status.get("succeeded"):
            return
        meta = job["metadata"]
        uid = meta["uid"]
        started = self.born.setdefault(uid, now)
        status.setdefault("active", 1)
        status.setdefault("startTime", _now())
        if now - started < self.job_delay:
            return
        spec = job["spec"]["template"]["spec"]
        env = {e["name"]: e for c in spec.get("containers", []) for e in c.get("env") or []}
        if "NGINX_CERT_SECRET" in env:
            self.gen_certs(meta["namespace"], env)
        status.update(
            {
                "active": 0,
                "succeeded": 1,
                "completionTime": _now(),
                "conditions": [{"type": "Complete", "status": "True"}],
            }
        )

    def gen_certs(self, namespace: str, env: dict[str, dict[str, Any]]) -> None:
        """What the chart's gencerts.sh does: a TLS Secret for ``*.<api host name>`` unless it exists."""
        secret_name = env["NGINX_CERT_SECRET"]["value"]
        if self.store.get("Secret", namespace, secret_name) is not None:
            return
        ref = env.get("WHISK_API_HOST_NAME", {}).get("valueFrom", {}).get("configMapKeyRef", {})
        config = self.store.get("ConfigMap", namespace, ref.get("name", "")) or {}
        host = (config.get("data") or {}).get(ref.get("key", ""), "localhost")
        cert, key = tls_pair(f"*.{host}")
        self.store.put(
            {
                "kind": "Secret",
                "type": "kubernetes.io/tls",
                "metadata": {"name": secret_name, "namespace": namespace},
                "data": {
                    "tls.crt": base64.b64encode(cert.encode()).decode(),
                    "tls.key": base64.b64encode(key.encode()).decode(),
                },
            }
        )

    # -- OpenWhisk -------------------------------------------------------------------------------
    def _release_ready(self, namespace: str, release: str) -> bool:
        for kind, name in (
            ("StatefulSet", f"{release}-controller"),
            ("StatefulSet", f"{release}-invoker"),
            ("Deployment", f"{release}-nginx"),
        ):
            obj = self.store.get(kind, namespace, name)
            status = (obj or {}).get("status") or {}
            want = int((obj or {}).get("spec", {}).get("replicas") or 1)
            if (
                obj is None
                or status.get("updatedReplicas", 0) < want
                or status.get("readyReplicas", 0) < want
                or status.get("replicas", 0) > want
            ):
                return False
        return True

    async def sync_openwhisk(self) -> None:
        """(Re)start OpenWhisk when the release's rendered configuration changed and its pods rolled out."""
        releases = [
            (s["metadata"]["namespace"], s["metadata"]["name"].removesuffix("-controller"))
            for s in self.store.list("StatefulSet")
            if s["metadata"]["name"].endswith("-controller")
        ]
        if not releases:
            await self.stop_openwhisk()
            return
        namespace, release = releases[0]
        wanted = rendered_from(self.store, namespace, release)
        rolling = not self._release_ready(namespace, release)
        if wanted is None or (rolling and wanted != self.signature):
            if self.signature is not None and wanted != self.signature:
                await self.stop_openwhisk()
            return
        if wanted == self.signature and self.openwhisk is not None:
            return
        await self.stop_openwhisk()
        from pytest_openwhisk.local.server import LocalOpenWhisk

        config = wanted.config(self.state / "openwhisk")
        server = LocalOpenWhisk(config)
        await asyncio.to_thread(server.__enter__)
        self.openwhisk, self.signature = server, wanted
        self.invoker_name = f"{release}-invoker-0"
        self.namespace = namespace
        (self.state / "openwhisk.json").write_text(
            json.dumps({"apihost": server.apihost, "kinds": config.kinds})
        )

    async def stop_openwhisk(self) -> None:
        """Stop the running OpenWhisk and remove its action pods."""
        server, self.openwhisk, self.signature = self.openwhisk, None, None
        if server is not None:
            await asyncio.to_thread(server.__exit__, None, None, None)
        for pod in self.store.list("Pod", None, "user-action-pod=true"):
            self.store.delete("Pod", pod["metadata"]["namespace"], pod["metadata"]["name"])
        self.action_pods.clear()

    async def sync_action_pods(self) -> None:
        """One pod per container of the embedded invoker's pool, labelled like OpenWhisk's."""
        server = self.openwhisk
        if server is None:
            return

        async def entries() -> list[tuple[int, Any, str]]:
            pool = server.server.invoker.pool
            return [(id(e), e.key, str(e.state)) for e in list(pool.entries)]

        try:
            found = await asyncio.to_thread(server._call, entries(), 5.0)
        except Exception:
            return
        alive = set()
        for ident, key, _state in found:
            alive.add(ident)
            labels = {"user-action-pod": "true", "invoker": self.invoker_name}
            if key is not None:
                ns_path = key[1]
                namespace, _, action = ns_path.rpartition("/")
                labels.update(
                    {
                        "openwhisk/action": action.rsplit("/", 1)[-1],
                        "openwhisk/namespace": namespace or key[0],
                    }
                )
            name = self.action_pods.get(ident)
            if name is None:
                self.pod_numbers += 1
                name = action_pod_name(
                    self.invoker_name,
                    self.pod_numbers,
                    labels.get("openwhisk/namespace", "prewarm"),
                    labels.get("openwhisk/action", "stemcell"),
                )
                self.action_pods[ident] = name
            pod = self.store.get("Pod", self.namespace, name)
            if pod is None:
                pod = {
                    "kind": "Pod",
                    "metadata": {"name": name, "namespace": self.namespace, "labels": labels},
                    "spec": {"containers": [{"name": "user-action", "image": "openwhisk/action"}]},
                    "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
                }
                self.created(self.store.put(pod))
            elif pod["metadata"].get("labels") != labels:
                pod["metadata"]["labels"] = labels
        for ident, name in list(self.action_pods.items()):
            if ident not in alive:
                self.store.delete("Pod", self.namespace, name)
                del self.action_pods[ident]


def kind_nodes(config: dict[str, Any] | None, cluster: str) -> list[tuple[str, dict[str, str]]]:
    """Node names and labels of a kind cluster config (kind's naming: <name>-worker, -worker2)."""
    roles = [n.get("role", "worker") for n in (config or {}).get("nodes") or [{"role": "control-plane"}]]
    nodes, workers = [], 0
    for role in roles:
        if role == "control-plane":
            nodes.append((f"{cluster}-control-plane", {"node-role.kubernetes.io/control-plane": ""}))
        else:
            workers += 1
            nodes.append((f"{cluster}-worker{workers if workers > 1 else ''}", {}))
    return nodes


async def serve(args: argparse.Namespace) -> None:
    """Listen on 127.0.0.1, write server.json, run until SIGTERM/SIGINT."""
    state = Path(args.state)
    state.mkdir(parents=True, exist_ok=True)
    config = json.loads(args.nodes_json) if args.nodes_json else None
    twin = Twin(
        state,
        secrets.token_hex(16),
        ready_delay=args.ready_delay,
        roll_delay=args.roll_delay,
        job_delay=args.job_delay,
        nodes=kind_nodes(config, args.cluster),
    )
    runner = web.AppRunner(twin.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    info = {
        "url": f"http://127.0.0.1:{port}",
        "token": twin.token,
        "pid": os.getpid(),
        "cluster": args.cluster,
    }
    (state / "server.json.tmp").write_text(json.dumps(info))
    (state / "server.json.tmp").rename(state / "server.json")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.create_task(twin.reconcile_forever())
    await stop.wait()
    task.cancel()
    await twin.stop_openwhisk()
    await runner.cleanup()


def main() -> None:
    """Command line of the API stand-in."""
    parser = argparse.ArgumentParser(description="cluster twin: Kubernetes API stand-in")
    parser.add_argument("--state", required=True)
    parser.add_argument("--cluster", default="twin")
    parser.add_argument("--nodes-json", default="")
    parser.add_argument("--ready-delay", type=float, default=0.3)
    parser.add_argument("--roll-delay", type=float, default=0.3)
    parser.add_argument("--job-delay", type=float, default=0.3)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
