"""What a Helm release really runs, read from its live objects: limits, user memory, idle timeout, kinds.

The controller and invoker get their configuration as environment variables (the chart's
``limitsEnvVars``, ``CONFIG_whisk_containerPool_userMemory``, ``JAVA_OPTS``, ``RUNTIMES_MANIFEST``), so
reading those from the StatefulSets says what is deployed whatever values file produced it. The
fingerprint, :meth:`Deployed.capacity` and the connect-only option check use this.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from pytest_openwhisk.errors import BackendError
from pytest_openwhisk.kube.runtimes import manifest_images, manifest_kinds
from pytest_openwhisk.kube.values import IDLE_PROPERTY, format_seconds

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|milliseconds?|s|seconds?|m|min|minutes?|h|hours?)?\s*$")


def size_mb(text: str | None) -> int | None:
    """``"8192m"`` / ``"2g"`` / ``"512 MB"`` -> MB (None when absent or unreadable)."""
    if not text:
        return None
    match = _SIZE.match(str(text))
    if not match:
        return None
    number, unit = float(match.group(1)), match.group(2).lower()
    factor = {"": 1 / (1024 * 1024), "k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}[unit]
    if unit == "":  # a bare number in a size setting is megabytes in OpenWhisk's values
        factor = 1
    return round(number * factor)


def duration_ms(text: str | None) -> int | None:
    """``"5m"`` / ``"300 s"`` / ``"100ms"`` -> milliseconds (None when absent or unreadable)."""
    if not text:
        return None
    match = _DURATION.match(str(text).strip().lower())
    if not match:
        return None
    number, unit = float(match.group(1)), (match.group(2) or "ms")
    if unit.startswith("ms") or unit.startswith("milli"):
        scale = 1.0
    elif unit.startswith("s"):
        scale = 1000.0
    elif unit.startswith("m"):
        scale = 60_000.0
    else:
        scale = 3_600_000.0
    return round(number * scale)


def _int(text: str | None) -> int | None:
    try:
        return int(str(text).strip()) if text not in (None, "") else None
    except ValueError:
        return None


def jvm_property(options: str, key: str) -> str | None:
    """The value of ``-Dkey=value`` in a JVM option string (the last one wins)."""
    found = None
    for opt in options.split():
        if opt.startswith(f"-D{key}="):
            found = opt.split("=", 1)[1]
    return found


@dataclass
class Deployed:
    """Environment of the controller and invoker containers and the invoker replica count."""

    controller: dict[str, str] = field(default_factory=dict)
    invoker: dict[str, str] = field(default_factory=dict)
    invokers: int = 0
    images: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, kube: Any, namespace: str, release: str) -> Deployed:
        """From the StatefulSets ``<release>-controller`` and ``<release>-invoker``."""
        controller = kube.workload(namespace, f"{release}-controller")
        invoker = kube.workload(namespace, f"{release}-invoker")
        if controller is None or invoker is None:
            missing = [n for n, o in (("controller", controller), ("invoker", invoker)) if o is None]
            raise BackendError(
                f"release {release!r} in namespace {namespace!r} has no {' or '.join(missing)} "
                "workload; is it an openwhisk-deploy-kube release (scheduler-only setups are not "
                "supported)?"
            )
        return cls(
            _env(controller, "controller"),
            _env(invoker, "invoker"),
            int((invoker.get("spec") or {}).get("replicas") or 1),
            {"controller": _image(controller, "controller"), "invoker": _image(invoker, "invoker")},
        )

    @property
    def manifest(self) -> dict[str, Any]:
        """The runtimes manifest the invoker runs with."""
        text = self.invoker.get("RUNTIMES_MANIFEST") or self.controller.get("RUNTIMES_MANIFEST") or "{}"
        try:
            data: dict[str, Any] = json.loads(text)
        except json.JSONDecodeError:
            return {}
        return data

    def user_memory_mb(self) -> int | None:
        """Memory of one invoker's container pool (MB)."""
        return size_mb(self.invoker.get("CONFIG_whisk_containerPool_userMemory"))

    def idle_timeout_s(self) -> float | None:
        """The invoker's idle-container timeout (None: OpenWhisk's default, 10 minutes)."""
        value = jvm_property(self.invoker.get("JAVA_OPTS", ""), IDLE_PROPERTY)
        ms = duration_ms(value)
        return None if ms is None else ms / 1000

    def stem_cells(self) -> list[tuple[str, int, int]]:
        """(kind, count, memory MB) of every stem cell in the deployed runtimes manifest."""
        cells = []
        for entries in (self.manifest.get("runtimes") or {}).values():
            for entry in entries:
                for cell in entry.get("stemCells") or []:
                    cells.append(
                        (
                            str(entry["kind"]),
                            int(cell.get("initialCount", cell.get("count", 0))),
                            size_mb(str(cell.get("memory"))) or 0,
                        )
                    )
        return cells

    def capacity(self) -> dict[str, int | None]:
        """The fields of ``backends.base.Capacity`` from the deployed environment."""
        env = {**self.invoker, **self.controller}
        memory = self.user_memory_mb()
        return {
            "user_memory_mb": None if memory is None else memory * max(self.invokers, 1),
            "concurrent_invocations": _int(env.get("LIMITS_ACTIONS_INVOKES_CONCURRENT")),
            "invocations_per_minute": _int(env.get("LIMITS_ACTIONS_INVOKES_PERMINUTE")),
            "max_action_memory_mb": size_mb(env.get("CONFIG_whisk_memory_max")),
            "min_action_memory_mb": size_mb(env.get("CONFIG_whisk_memory_min")),
            "max_action_timeout_ms": duration_ms(env.get("CONFIG_whisk_timeLimit_max")),
            "invokers": self.invokers,
        }

    def fingerprint(self) -> dict[str, Any]:
        """What shapes results, as deployed: kinds and images, pool, idle timeout, limits, images."""
        idle = self.idle_timeout_s()
        return {
            "kinds": manifest_kinds(self.manifest),
            "runtime_images": manifest_images(self.manifest),
            "user_memory_mb": self.user_memory_mb(),
            "idle_timeout": format_seconds(idle) if idle else "10m (OpenWhisk default)",
            "stem_cells": [f"{k}:{n}:{m}" for k, n, m in self.stem_cells()],
            "capacity": self.capacity(),
            # the benchmarks' nested-chain guard reads pool.user_memory_mb (all invokers together)
            "pool": {"user_memory_mb": self.capacity()["user_memory_mb"]},
            "images": self.images,
        }


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec") or {}
    return dict((spec.get("template") or {}).get("spec") or spec)


def _env(obj: dict[str, Any], container: str) -> dict[str, str]:
    for item in _pod_spec(obj).get("containers") or []:
        if item.get("name") == container:
            return {e["name"]: str(e.get("value", "")) for e in item.get("env") or [] if "name" in e}
    return {}


def _image(obj: dict[str, Any], container: str) -> str:
    for item in _pod_spec(obj).get("containers") or []:
        if item.get("name") == container:
            return str(item.get("image", ""))
    return ""


def check_connect_options(settings: Any, deployed: Deployed, release: str) -> None:
    """Connect-only: options that need an upgrade must match the deployed release, else name the fix."""
    from pytest_openwhisk.kube.deploy import given

    wrong: list[str] = []
    if given(settings, "user_memory") and deployed.user_memory_mb() != int(settings.user_memory):
        wrong.append(f"--ow-user-memory={settings.user_memory} (deployed: {deployed.user_memory_mb()} MB)")
    if given(settings, "idle_timeout"):
        deployed_idle = deployed.idle_timeout_s() or 600.0
        if abs(deployed_idle - float(settings.idle_timeout)) > 1e-6:
            wrong.append(
                f"--ow-idle-timeout={format_seconds(float(settings.idle_timeout))} "
                f"(deployed: {format_seconds(deployed_idle)})"
            )
    if given(settings, "prewarm"):
        wanted = sorted((c.kind, c.count, c.memory_mb) for c in settings.prewarm)
        if wanted != sorted(deployed.stem_cells()):
            shown = ",".join(f"{k}:{n}:{m}" for k, n, m in deployed.stem_cells()) or "none"
            wanted_shown = ",".join(f"{k}:{n}:{m}" for k, n, m in wanted) or "none"
            wrong.append(f"--ow-prewarm={wanted_shown} (deployed: {shown})")
    if wrong:
        raise BackendError(
            f"release {release!r} is only connected to (no --ow-values), so these options cannot "
            f"apply without an upgrade: {'; '.join(wrong)}. Add --ow-values FILE (your overlay, or an empty "
            "file) to let pytest-openwhisk upgrade the release with them, or drop those options"
        )
