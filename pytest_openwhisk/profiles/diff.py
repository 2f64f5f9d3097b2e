"""What a profile changes in the rendered release: objects added, removed or changed against another profile.

Objects are Kubernetes documents as rendered by KUBE's ``pytest-openwhisk render``
(:func:`pytest_openwhisk.kube.render.render_release`). An object is identified by its name; a change of
kind under the same name (the invoker's StatefulSet becoming a DaemonSet) is one change. For pods
(Deployment, StatefulSet, DaemonSet, Job, Pod) the environment variables, init containers, containers,
volumes and images are compared; other objects are compared as a whole.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from pytest_openwhisk.errors import ConfigError

_WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "Pod")
_SHOWN = 60  # longest value shown in a change line
_SECRET_WORDS = ("password", "secret", "auth", "token", "key")  # env values never shown


def _key(obj: Mapping[str, Any]) -> tuple[str, str]:
    """Workloads by name alone (so a StatefulSet that becomes a DaemonSet is one change), others by kind."""
    kind = str(obj.get("kind"))
    return ("workload" if kind in _WORKLOADS else kind, str(obj.get("metadata", {}).get("name")))


def _pod(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    if obj.get("kind") == "Pod":
        return obj.get("spec") or {}
    return ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}


def _short(value: Any, start: int = 0) -> str:
    """``value`` on one line, from about ``start`` on, cut at :data:`_SHOWN` characters."""
    text = " ".join(str(value).split())
    if start > 10:
        text = "..." + text[start - 10 :]
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _first_difference(a: str, b: str) -> int:
    """Index of the first differing character of ``a`` and ``b`` after collapsing whitespace."""
    a, b = " ".join(a.split()), " ".join(b.split())
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def _env(pod: Mapping[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for container in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
        for item in container.get("env") or []:
            name = str(item.get("name"))
            if "value" not in item:
                value = f"<from {next(iter(item.get('valueFrom') or {}), '?')}>"
            elif any(word in name.lower() for word in _SECRET_WORDS):
                value = "<redacted>"
            else:
                value = str(item.get("value"))
            found[f"{container.get('name')}.{name}"] = value
    return found


def _names(items: Iterable[Mapping[str, Any]] | None) -> set[str]:
    return {str(item.get("name")) for item in items or []}


def _pod_changes(name: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    a, b = _pod(old), _pod(new)
    lines = []
    for what, key in (
        ("init containers", "initContainers"),
        ("containers", "containers"),
        ("volumes", "volumes"),
    ):
        before, after = _names(a.get(key)), _names(b.get(key))
        if after - before:
            lines.append(f"~ {name}: {what} added: {', '.join(sorted(after - before))}")
        if before - after:
            lines.append(f"~ {name}: {what} removed: {', '.join(sorted(before - after))}")
    env_a, env_b = _env(a), _env(b)
    for var in sorted(set(env_a) | set(env_b)):
        if var not in env_a:
            lines.append(f"~ {name}: env {var} added = {_short(env_b[var])}")
        elif var not in env_b:
            lines.append(f"~ {name}: env {var} removed (was {_short(env_a[var])})")
        elif env_a[var] != env_b[var]:
            at = _first_difference(env_a[var], env_b[var])
            lines.append(f"~ {name}: env {var}: {_short(env_a[var], at)} -> {_short(env_b[var], at)}")
    return lines


def describe_changes(base: Iterable[Mapping[str, Any]], other: Iterable[Mapping[str, Any]]) -> list[str]:
    """Lines ``+ Kind name`` (added), ``- Kind name`` (removed), ``~ name: ...`` (changed), sorted by name."""
    old = {_key(o): o for o in base}
    new = {_key(o): o for o in other}
    lines: list[str] = []
    for key in sorted(set(old) | set(new), key=lambda k: (k[1], k[0])):
        name = key[1]
        if key not in old:
            lines.append(f"+ {new[key].get('kind')} {name}")
            continue
        if key not in new:
            lines.append(f"- {old[key].get('kind')} {name}")
            continue
        a, b = old[key], new[key]
        if a == b:
            continue
        if a.get("kind") != b.get("kind"):
            lines.append(f"~ {name}: kind {a.get('kind')} -> {b.get('kind')}")
        if a.get("kind") in _WORKLOADS and b.get("kind") in _WORKLOADS:
            found = _pod_changes(name, a, b)
            lines += found or ([] if a.get("kind") != b.get("kind") else [f"~ {name}: spec changed"])
        elif a.get("kind") == b.get("kind"):
            keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            lines.append(f"~ {a.get('kind')} {name}: {', '.join(keys)} changed")
    return lines


def summarize(lines: Iterable[str]) -> dict[str, int]:
    """Counts of added, removed and changed lines (for a one-line summary)."""
    counts = {"added": 0, "removed": 0, "changed": 0}
    for line in lines:
        counts[{"+": "added", "-": "removed"}.get(line[:1], "changed")] += 1
    return counts


def load_manifests(path: Path) -> list[dict[str, Any]]:
    """The objects of a ``manifests.yaml`` written by ``pytest-openwhisk render --output DIR``."""
    try:
        docs = list(yaml.safe_load_all(Path(path).read_text(encoding="utf-8")))
    except OSError as exc:
        raise ConfigError(
            f"cannot read {str(path)!r}: {exc.strerror}; give the manifests.yaml written by "
            "pytest-openwhisk render --output DIR"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"{str(path)!r} is not YAML ({exc}); give a manifests.yaml of pytest-openwhisk render"
        ) from None
    return [doc for doc in docs if isinstance(doc, dict) and doc.get("kind")]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pytest_openwhisk.profiles.diff BASE/manifests.yaml OTHER/manifests.yaml``: the changes."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print(
            "usage: python -m pytest_openwhisk.profiles.diff BASE/manifests.yaml OTHER/manifests.yaml "
            "(two outputs of pytest-openwhisk render --output DIR)",
            file=sys.stderr,
        )
        return 2
    try:
        base, other = load_manifests(Path(args[0])), load_manifests(Path(args[1]))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    lines = describe_changes(base, other)
    counts = summarize(lines)
    print(
        f"{args[1]} against {args[0]}: {counts['added']} added, {counts['removed']} removed, "
        f"{counts['changed']} changed"
    )
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
