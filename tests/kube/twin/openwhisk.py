"""The twin's OpenWhisk: the embedded server configured from the release's rendered objects.

Kinds come from the invoker's ``RUNTIMES_MANIFEST``, throttles and action limits from the controller's
``LIMITS_*``/``CONFIG_whisk_*`` environment, user memory and the idle timeout from the invoker's
``CONFIG_whisk_containerPool_userMemory`` and ``JAVA_OPTS``, the guest key from the Secret
``<release>-whisk.auth`` and the certificate from the TLS Secret ``<release>-nginx`` (made like the chart's
gen-certs job does: a self-signed v1 certificate for ``*.<apiHostName>``). It serves HTTPS on the nginx
Service's NodePort on 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pytest_openwhisk.kube.live import duration_ms, jvm_property, size_mb
from pytest_openwhisk.kube.values import IDLE_PROPERTY
from pytest_openwhisk.local.config import Limits, LocalConfig, PoolConfig, StemCell


def make_certificate(common_name: str, folder: Path) -> tuple[str, str]:
    """(certificate PEM, key PEM): a self-signed v1 certificate, as openwhisk's genssl.sh makes for nginx."""
    key, csr, cert = folder / "key.pem", folder / "req.csr", folder / "cert.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    subprocess.run(
        [
            "openssl",
            "req",
            "-new",
            "-key",
            str(key),
            "-nodes",
            "-subj",
            f"/C=US/ST=NY/L=Yorktown/O=OpenWhisk/CN={common_name}",
            "-out",
            str(csr),
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["openssl", "x509", "-req", "-in", str(csr), "-signkey", str(key), "-out", str(cert), "-days", "365"],
        check=True,
        capture_output=True,
    )
    return cert.read_text(), key.read_text()


def env_of(obj: dict[str, Any], container: str) -> dict[str, str]:
    """Plain ``value`` env of ``container`` in a workload."""
    spec = obj.get("spec", {})
    pod = spec.get("template", {}).get("spec", spec)
    for item in pod.get("containers", []):
        if item.get("name") == container:
            return {e["name"]: str(e.get("value", "")) for e in item.get("env") or [] if "value" in e}
    return {}


def _int(env: dict[str, str], name: str, default: int) -> int:
    try:
        return int(env[name])
    except (KeyError, ValueError):
        return default


@dataclass(frozen=True)
class Rendered:
    """What the twin's OpenWhisk is configured from (a signature of the deployed release)."""

    controller: tuple[tuple[str, str], ...]
    invoker: tuple[tuple[str, str], ...]
    guest: str
    cert: str
    key: str
    port: int

    def config(self, folder: Path) -> LocalConfig:
        """The embedded server's config: kinds, limits, pool, guest key, certificate."""
        controller, invoker = dict(self.controller), dict(self.invoker)
        manifest = json.loads(invoker.get("RUNTIMES_MANIFEST") or "{}")
        kinds = tuple(e["kind"] for entries in manifest.get("runtimes", {}).values() for e in entries)
        cells = tuple(
            StemCell(e["kind"], int(c.get("initialCount", 1)), size_mb(str(c.get("memory"))) or 256)
            for entries in manifest.get("runtimes", {}).values()
            for e in entries
            for c in e.get("stemCells") or []
        )
        defaults = Limits()
        limits = Limits(
            invocations_per_minute=_int(
                controller, "LIMITS_ACTIONS_INVOKES_PERMINUTE", defaults.invocations_per_minute
            ),
            concurrent_invocations=_int(
                controller, "LIMITS_ACTIONS_INVOKES_CONCURRENT", defaults.concurrent_invocations
            ),
            fires_per_minute=_int(controller, "LIMITS_TRIGGERS_FIRES_PERMINUTE", defaults.fires_per_minute),
            sequence_max_length=_int(
                controller, "LIMITS_ACTIONS_SEQUENCE_MAXLENGTH", defaults.sequence_max_length
            ),
            timeout_ms_min=duration_ms(controller.get("CONFIG_whisk_timeLimit_min"))
            or defaults.timeout_ms_min,
            timeout_ms_max=duration_ms(controller.get("CONFIG_whisk_timeLimit_max"))
            or defaults.timeout_ms_max,
            timeout_ms_default=duration_ms(controller.get("CONFIG_whisk_timeLimit_std"))
            or defaults.timeout_ms_default,
            memory_mb_min=size_mb(controller.get("CONFIG_whisk_memory_min")) or defaults.memory_mb_min,
            memory_mb_max=size_mb(controller.get("CONFIG_whisk_memory_max")) or defaults.memory_mb_max,
            memory_mb_default=size_mb(controller.get("CONFIG_whisk_memory_std"))
            or defaults.memory_mb_default,
            concurrency_min=_int(controller, "CONFIG_whisk_concurrencyLimit_min", defaults.concurrency_min),
            concurrency_max=_int(controller, "CONFIG_whisk_concurrencyLimit_max", defaults.concurrency_max),
            concurrency_default=_int(
                controller, "CONFIG_whisk_concurrencyLimit_std", defaults.concurrency_default
            ),
        )
        idle = duration_ms(jvm_property(invoker.get("JAVA_OPTS", ""), IDLE_PROPERTY))
        pool = PoolConfig(
            user_memory_mb=size_mb(invoker.get("CONFIG_whisk_containerPool_userMemory")) or 2048,
            prewarm=cells,
            idle_container_timeout_s=(idle / 1000) if idle else 600.0,
        )
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "tls.crt").write_text(self.cert)
        (folder / "tls.key").write_text(self.key)
        (folder / "tls.key").chmod(0o600)
        base = LocalConfig.benchmark()
        return replace(
            base,
            host="127.0.0.1",
            port=self.port,
            auth=self.guest,
            limits=limits,
            pool=pool,
            kinds=kinds or None,
            tls_cert=str(folder / "tls.crt"),
            tls_key=str(folder / "tls.key"),
        )


def rendered_from(store: Any, namespace: str, release: str) -> Rendered | None:
    """The signature of the release in ``store`` once its controller, invoker, nginx and secrets exist."""
    controller = store.get("StatefulSet", namespace, f"{release}-controller")
    invoker = store.get("StatefulSet", namespace, f"{release}-invoker")
    auth = store.get("Secret", namespace, f"{release}-whisk.auth")
    tls = store.get("Secret", namespace, f"{release}-nginx")
    service = store.get("Service", namespace, f"{release}-nginx")
    if controller is None or invoker is None or auth is None or tls is None or service is None:
        return None
    port = next(
        (
            int(p["nodePort"])
            for p in service["spec"].get("ports", [])
            if p.get("name") == "https" and p.get("nodePort")
        ),
        0,
    )
    if not port:
        return None
    guest = base64.b64decode(auth.get("data", {}).get("guest", "")).decode()
    cert = base64.b64decode(tls["data"]["tls.crt"]).decode()
    key = base64.b64decode(tls["data"]["tls.key"]).decode()
    return Rendered(
        tuple(sorted(env_of(controller, "controller").items())),
        tuple(sorted(env_of(invoker, "invoker").items())),
        guest,
        cert,
        key,
        port,
    )


_POD_CHARS = re.compile(r"[^a-z0-9-]+")


def action_pod_name(invoker: str, number: int, namespace: str, action: str) -> str:
    """A pod name shaped like the Kubernetes container factory's (``wsk<invoker>-<n>-<ns>-<action>``)."""
    raw = f"wsk{invoker}-{number:02d}-{namespace}-{action}".lower()
    return _POD_CHARS.sub("-", raw)[:63].strip("-")


def tls_pair(common_name: str) -> tuple[str, str]:
    """A fresh certificate and key for ``common_name`` (like the gen-certs Job)."""
    with tempfile.TemporaryDirectory(prefix="twin-certs-") as tmp:
        return make_certificate(common_name, Path(tmp))
