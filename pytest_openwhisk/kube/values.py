"""Helm values of an OpenWhisk release: our files in ``helm/``, the options, user overlays; runtime manifests.

Layering (later wins, maps merged key by key, lists replaced as Helm does):
``helm/openwhisk-<kind|cluster>.yaml`` < settings (``--ow-prewarm``, ``--ow-idle-timeout``,
``--ow-user-memory``, ``--ow-auth``) < each ``--ow-values`` file in order.
"""

from __future__ import annotations

import copy
import re
import sysconfig
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from pytest_openwhisk.errors import ConfigError

#: the chart's well-known guest key (openwhisk-deploy-kube values.yaml whisk.auth.guest)
CHART_GUEST_AUTH = (
    "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
)
IDLE_PROPERTY = "whisk.container-proxy.timeouts.idle-container"
#: the Kubernetes container factory pins action pods to nodes labelled openwhisk-role=invoker
#: (openwhisk core/invoker reference.conf ``whisk.kubernetes.user-pod-node-affinity``)
NODE_AFFINITY_PROPERTY = "whisk.kubernetes.user-pod-node-affinity"


#: where an installed wheel puts helm/*.yaml (pyproject.toml [tool.setuptools.data-files]), under a data path
INSTALLED_HELM = Path("share", "pytest-openwhisk", "helm")


def values_dir() -> Path:
    """The ``helm/`` folder holding our values files: the checkout's, else the installed copy."""
    here = Path(__file__).resolve().parents[2] / "helm"
    candidates = [here]
    for scheme in (sysconfig.get_default_scheme(), sysconfig.get_preferred_scheme("user")):
        candidates.append(Path(sysconfig.get_path("data", scheme)) / INSTALLED_HELM)
    for folder in candidates:
        if (folder / "openwhisk-kind.yaml").is_file():
            return folder
    raise ConfigError(
        f"the pytest-openwhisk Helm values are missing (looked for openwhisk-kind.yaml in "
        f"{', '.join(map(str, candidates))}); reinstall pytest-openwhisk, run from a "
        "checkout, or pass your own file with --ow-values"
    )


def load_values(path: Path) -> dict[str, Any]:
    """A values file as a dict; :class:`ConfigError` naming the file when it is not a YAML mapping."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read Helm values file {str(path)!r}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"Helm values file {str(path)!r} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"Helm values file {str(path)!r} must hold a mapping of keys "
            f"(like whisk: ...), not a {type(data).__name__}"
        )
    return data


def merge(base: Mapping[str, Any], *overlays: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge: mappings merge key by key, anything else (lists too) is replaced; inputs unchanged."""
    result: dict[str, Any] = copy.deepcopy(dict(base))
    for overlay in overlays:
        for key, value in overlay.items():
            if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
                result[key] = merge(result[key], value)
            else:
                result[key] = copy.deepcopy(value)
    return result


def format_seconds(seconds: float) -> str:
    """A HOCON duration for the invoker: 15.0 -> ``15s``, 0.5 -> ``500ms``, 600 -> ``10m``."""
    if seconds <= 0:
        raise ConfigError(f"idle container timeout must be positive, got {seconds:g}s; use e.g. 15s or 10m")
    if seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"


def set_jvm_property(options: str, key: str, value: str) -> str:
    """``options`` (a JVM option string) with ``-Dkey=value`` set, replacing an earlier setting of ``key``."""
    kept = [opt for opt in options.split() if not re.match(rf"^-D{re.escape(key)}=", opt)]
    return " ".join([*kept, f"-D{key}={value}"])


def settings_overlay(base: Mapping[str, Any], settings: Any) -> dict[str, Any]:
    """Values for the options the user set (not defaults); ``base`` gives the jvmOptions to extend."""
    sources: Mapping[str, str] = getattr(settings, "sources", {}) or {}

    def given(name: str) -> bool:  # ~/.wskprops describes another OpenWhisk: never a setting for the release
        return sources.get(name, "default") not in ("default", "wskprops")

    overlay: dict[str, Any] = {}
    if given("idle_timeout"):
        jvm = str(base.get("invoker", {}).get("jvmOptions", "") or "")
        jvm = set_jvm_property(jvm, IDLE_PROPERTY, format_seconds(float(settings.idle_timeout)))
        overlay = merge(overlay, {"invoker": {"jvmOptions": jvm}})
    if given("user_memory"):
        memory = f"{int(settings.user_memory)}m"
        overlay = merge(overlay, {"whisk": {"containerPool": {"userMemory": memory}}})
    if given("auth") and settings.auth:
        overlay = merge(overlay, {"whisk": {"auth": {"guest": settings.auth}}})
    return overlay


def compose(settings: Any, base_file: str) -> dict[str, Any]:
    """All values of a release: ``helm/<base_file>`` < settings < ``settings.values`` files in order."""
    base = load_values(values_dir() / base_file)
    layers = [settings_overlay(base, settings)]
    layers += [load_values(path) for path in getattr(settings, "values", ())]
    return with_node_affinity(merge(base, *layers))


def with_node_affinity(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` whose invoker places action pods where the chart places the invoker.

    The chart's ``affinity`` only places OpenWhisk's own pods; the invoker's Kubernetes container factory
    separately requires ``openwhisk-role=invoker`` on the node of every action pod. Without node labels
    (``affinity.enabled: false``) that keeps action pods Pending forever, so the invoker option
    ``-Dwhisk.kubernetes.user-pod-node-affinity.enabled=false`` is added (what openwhisk-deploy-kube's
    docs pair with it); with labels, the invoker's label value follows ``affinity.invokerNodeLabel``.
    An explicit setting in ``invoker.options`` is kept.
    """
    result = merge(values)
    invoker = result.setdefault("invoker", {})
    options = str(invoker.get("options") or "")
    if f"-D{NODE_AFFINITY_PROPERTY}." in options:
        return result
    affinity = result.get("affinity") or {}
    if not affinity.get("enabled", False):
        options = set_jvm_property(options, f"{NODE_AFFINITY_PROPERTY}.enabled", "false")
    else:
        label = str(affinity.get("invokerNodeLabel") or "invoker")
        if label != "invoker":
            options = set_jvm_property(options, f"{NODE_AFFINITY_PROPERTY}.value", label)
    if options != str(invoker.get("options") or ""):
        invoker["options"] = options
    return result


def guest_auth(values: Mapping[str, Any]) -> str:
    """The API key of the guest namespace in ``values`` (the chart's default unless overridden)."""
    auth = values.get("whisk", {}).get("auth", {}).get("guest")
    return str(auth) if auth else CHART_GUEST_AUTH


def summary(values: Mapping[str, Any]) -> dict[str, Any]:
    """The values that shape benchmark results, for the fingerprint (no secrets)."""
    whisk = values.get("whisk", {})
    invoker = values.get("invoker", {})
    factory = invoker.get("containerFactory", {})
    return {
        "container_factory": factory.get("impl"),
        "concurrency": factory.get("enableConcurrency"),
        "limits": {k: v for k, v in whisk.get("limits", {}).items() if k != "actions"},
        "action_limits": whisk.get("limits", {}).get("actions", {}),
        "user_memory": whisk.get("containerPool", {}).get("userMemory"),
        "invoker_jvm_options": invoker.get("jvmOptions"),
        "invoker_replicas": factory.get("kubernetes", {}).get("replicaCount"),
        "scheduler": bool(values.get("scheduler", {}).get("enabled", False)),
        "affinity": bool(values.get("affinity", {}).get("enabled", False)),
        "images": {
            name: f"{values[name].get('imageName', '?')}:{values[name].get('imageTag', '?')}"
            for name in ("controller", "invoker")
            if name in values
        },
    }
