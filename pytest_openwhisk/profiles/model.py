"""Deployment profiles: a named set of ``--ow-*`` settings, deployment knobs and Helm values, from YAML.

A profile file::

    name: idle-15s
    description: the seed's idle-container timeout
    knobs:                  # typed, validated; applied wherever the backend has them
      idle_timeout: 15s
    settings:               # other --ow-* options, written as on the command line
      isolation: none
    helm:                   # raw Helm values, merged after the knobs' (kind/existing only)
      affinity: {enabled: false}

Knobs that the embedded OpenWhisk models (prewarm, idle timeout, user memory, intra-container
concurrency, action and rate limits) become the matching ``--ow-*`` settings or embedded-server limits;
the others (scheduler, container factory, blackbox fraction, timeout factor) exist only as Helm values of
the openwhisk-deploy-kube chart. Every error names the file, the knob, what is allowed and the fix.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from pytest_openwhisk.errors import ConfigError
from pytest_openwhisk.local.config import Limits, StemCell
from pytest_openwhisk.parsers import format_duration, format_prewarm, parse_duration, parse_memory

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_TOP_KEYS = ("name", "description", "knobs", "settings", "helm")
#: knobs and the backends that have them ("local" = the embedded OpenWhisk)
KNOBS: dict[str, tuple[str, ...]] = {
    "scheduler": ("kind", "existing"),  # "default" is accepted everywhere
    "container_factory": ("kind", "existing"),
    "prewarm": ("local", "kind", "existing"),
    "idle_timeout": ("local", "kind", "existing"),
    "user_memory": ("local", "kind", "existing"),
    "concurrency": ("local", "kind", "existing"),
    "limits": ("local", "kind", "existing"),
    "action_limits": ("local", "kind", "existing"),
    "blackbox_fraction": ("kind", "existing"),
    "timeout_factor": ("kind", "existing"),
}
SCHEDULERS = ("default", "new")
FACTORIES = ("kubernetes", "docker")
#: rate limits: knob key -> (Limits field, chart key under whisk.limits, smallest value)
RATE_LIMITS: dict[str, tuple[str, str, int]] = {
    "invocations_per_minute": ("invocations_per_minute", "actionsInvokesPerminute", 0),
    "concurrent_invocations": ("concurrent_invocations", "actionsInvokesConcurrent", 0),
    "fires_per_minute": ("fires_per_minute", "triggersFiresPerminute", 0),
    "sequence_max_length": ("sequence_max_length", "actionsSequenceMaxlength", 1),
}
#: settings a profile may not set: they say where and how to connect, not how OpenWhisk is deployed
_SESSION_SETTINGS = (
    "cluster",
    "apihost",
    "auth",
    "namespace",
    "kubeconfig",
    "kube_context",
    "keep_cluster",
    "results_dir",
    "kind_cluster_name",
    "helm_release",
    "helm_namespace",
    "values",
    "profile",
)
#: settings that are knobs (set them under knobs:)
_KNOB_SETTINGS = ("prewarm", "idle_timeout", "user_memory")


class ProfileError(ConfigError):
    """A profile or knob is invalid, or the backend lacks a knob (the message: knob, allowed values, fix)."""


@dataclass(frozen=True)
class Profile:
    """A parsed, validated profile. ``knobs`` hold canonical values (see :data:`KNOBS`)."""

    name: str
    origin: str  # the file it came from (for messages), or "<inline>"
    description: str = ""
    knobs: Mapping[str, Any] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)  # Settings field -> parsed value (knobs too)
    raw_settings: Mapping[str, str] = field(default_factory=dict)  # as written (for the fingerprint)
    helm: Mapping[str, Any] = field(default_factory=dict)  # the raw helm: section

    def cluster_only(self) -> list[str]:
        """Knobs (and ``helm``) of this profile that the embedded OpenWhisk does not have."""
        found = [
            k
            for k in self.knobs
            if "local" not in KNOBS[k] and not (k == "scheduler" and self.knobs[k] == "default")
        ]
        return [*found, "helm"] if self.helm else found

    def helm_values(self) -> dict[str, Any]:
        """Helm values of the knobs that are not ``--ow-*`` settings, then the raw ``helm:`` section."""
        from pytest_openwhisk.kube.values import merge

        return merge(_knob_values(self.knobs), self.helm)

    def local_limits(self, limits: Limits) -> Limits:
        """``limits`` (the embedded server's) with the profile's concurrency, rate and action limits."""
        changes: dict[str, int] = {}
        concurrency = self.knobs.get("concurrency")
        if concurrency:
            changes.update(
                concurrency_min=concurrency["min"],
                concurrency_max=concurrency["max"],
                concurrency_default=concurrency["std"],
            )
        for key, value in (self.knobs.get("limits") or {}).items():
            changes[RATE_LIMITS[key][0]] = value
        actions = self.knobs.get("action_limits") or {}
        for part, prefix in (("memory", "memory_mb"), ("time", "timeout_ms")):
            scale = 1000.0 if part == "time" else 1.0
            for bound, suffix in (("min", "min"), ("max", "max"), ("std", "default")):
                if bound in actions.get(part, {}):
                    changes[f"{prefix}_{suffix}"] = round(actions[part][bound] * scale)
        if "payload_max" in actions:
            changes["payload_max_bytes"] = actions["payload_max"]
        return replace(limits, **changes)

    def fingerprint(self) -> dict[str, Any]:
        """What the profile changes, for ``ow_fingerprint.profile``: name, digest and knobs (no paths)."""
        body = {
            "knobs": _jsonable(self.knobs),
            "settings": dict(sorted(self.raw_settings.items())),
            "helm": _jsonable(self.helm),
        }
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]
        return {"name": self.name, "digest": digest, **body}

    def describe(self) -> str:
        """One line: ``name: knob=value, ...``."""
        items = [f"{k}={_show(k, v)}" for k, v in self.knobs.items()]
        items += [f"{k}={v}" for k, v in self.raw_settings.items()]
        if self.helm:
            items.append(f"helm={','.join(sorted(self.helm))}")
        return f"{self.name}: " + (", ".join(items) or "backend defaults")


def _show(knob: str, value: Any) -> str:
    if isinstance(value, Mapping):
        return (
            "{"
            + ",".join(
                f"{k}:{_show(knob if knob in ('time', 'memory') else str(k), v)}" for k, v in value.items()
            )
            + "}"
        )
    if knob == "prewarm":
        return format_prewarm(value)
    if knob in ("idle_timeout", "time"):
        return format_duration(value)
    if knob in ("user_memory", "memory"):
        return f"{value:g}MB"
    if knob == "blackbox_fraction":
        return f"{value * 100:g}%"
    if knob == "timeout_factor":
        return f"{value:g}"
    return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, StemCell):
        return {"kind": value.kind, "count": value.count, "memory_mb": value.memory_mb}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


# --- knob parsing ------------------------------------------------------------------------------------------


class _Bad(Exception):
    """A knob value is wrong: ``allowed`` says what is accepted, ``fix`` an example."""

    def __init__(self, problem: str, allowed: str, fix: str) -> None:
        super().__init__(problem)
        self.problem, self.allowed, self.fix = problem, allowed, fix


def _text(value: Any) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, Mapping | list):
        raise _Bad(f"{value!r} is not a scalar", "", "")
    return str(value)


def _parse_with(parser: Callable[[str], Any], value: Any, allowed: str, fix: str) -> Any:
    try:
        return parser(_text(value))
    except (argparse.ArgumentTypeError, _Bad) as exc:
        raise _Bad(f"invalid value {value!r}: {exc}", allowed, fix) from None


def _choice(value: Any, allowed: tuple[str, ...], fix: str) -> str:
    text = str(value).strip().lower() if isinstance(value, str) else None
    if text not in allowed:
        raise _Bad(f"invalid value {value!r}", " or ".join(allowed), fix)
    return text


def _count(value: Any, smallest: int, what: str, fix: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < smallest:
        raise _Bad(f"invalid {what} {value!r}", f"an integer >= {smallest}", fix)
    return value


_PREWARM_ALLOWED = (
    "off (no stem cells), or stem cells per kind: {python:3.11: 2, nodejs:20: {count: 1, "
    "memory: 512}} or the --ow-prewarm form python:3.11:2,nodejs:20:1"
)


def _prewarm(value: Any) -> tuple[StemCell, ...]:
    fix = "prewarm: off  or  prewarm: {python:3.11: 2, nodejs:20: 2}"
    if value is False or (isinstance(value, str) and value.strip().lower() in ("off", "none", "false", "no")):
        return ()
    if isinstance(value, str):
        from pytest_openwhisk.parsers import parse_prewarm

        return tuple(_parse_with(parse_prewarm, value, _PREWARM_ALLOWED, fix))
    if not isinstance(value, Mapping) or not value:
        raise _Bad(f"invalid value {value!r}", _PREWARM_ALLOWED, fix)
    cells = []
    for kind, spec in value.items():
        if not isinstance(kind, str) or ":" not in kind:
            raise _Bad(f"invalid kind {kind!r}", "a runtime kind such as python:3.11 or nodejs:20", fix)
        if isinstance(spec, Mapping):
            unknown = sorted(set(spec) - {"count", "memory"})
            if unknown or "count" not in spec:
                raise _Bad(
                    f"stem cells of {kind} {dict(spec)!r}: need count (and optionally memory), "
                    f"got {', '.join(unknown) or 'no count'}",
                    _PREWARM_ALLOWED,
                    fix,
                )
            count = _count(spec["count"], 0, f"stem-cell count of {kind}", fix)
            memory = _parse_with(parse_memory, spec.get("memory", 256), "megabytes, e.g. 256 or 512m", fix)
        else:
            count, memory = _count(spec, 0, f"stem-cell count of {kind}", fix), 256
        cells.append(StemCell(kind=kind, count=count, memory_mb=memory))
    return tuple(cells)


def _triple(value: Any, parse: Callable[[Any], float], unit: str, fix: str) -> dict[str, float]:
    if not isinstance(value, Mapping) or not value or set(value) - {"min", "max", "std"}:
        raise _Bad(f"invalid value {value!r}", f"a mapping with min, max and/or std ({unit})", fix)
    out = {bound: parse(value[bound]) for bound in ("min", "max", "std") if bound in value}
    if "min" in out and "max" in out and out["min"] > out["max"]:
        raise _Bad(f"min {value['min']!r} is above max {value['max']!r}", "min <= std <= max", fix)
    for bound in ("min", "max"):
        if (
            "std" in out
            and bound in out
            and (out["std"] < out[bound] if bound == "min" else out["std"] > out[bound])
        ):
            raise _Bad(
                f"std {value['std']!r} lies outside {bound} {value[bound]!r}", "min <= std <= max", fix
            )
    return out


def _concurrency(value: Any) -> dict[str, int]:
    fix = "concurrency: 20  or  concurrency: {min: 1, max: 20, std: 1}"
    if isinstance(value, int) and not isinstance(value, bool):
        value = {"max": value}
    parsed = _triple(value, lambda v: _count(v, 1, "concurrency", fix), "activations per container", fix)
    full = {"min": 1, "std": 1, **{k: int(v) for k, v in parsed.items()}}
    full.setdefault("max", max(full["min"], full["std"]))
    if not full["min"] <= full["std"] <= full["max"]:
        raise _Bad(
            f"min/std/max {full['min']}/{full['std']}/{full['max']} are out of order",
            "min <= std <= max",
            fix,
        )
    return full


def _limits(value: Any) -> dict[str, int]:
    fix = "limits: {invocations_per_minute: 100000, concurrent_invocations: 5000, sequence_max_length: 200}"
    if not isinstance(value, Mapping) or not value:
        raise _Bad(f"invalid value {value!r}", f"a mapping of {', '.join(RATE_LIMITS)}", fix)
    out = {}
    for key, item in value.items():
        if key not in RATE_LIMITS:
            raise _Bad(f"unknown limit {key!r}{_suggest(key, RATE_LIMITS)}", ", ".join(RATE_LIMITS), fix)
        out[key] = _count(item, RATE_LIMITS[key][2], key, fix)
    return out


def _action_limits(value: Any) -> dict[str, Any]:
    fix = "action_limits: {memory: {max: 2048}, time: {max: 5m}, payload_max: 1048576}"
    allowed = ("memory", "time", "payload_max")
    if not isinstance(value, Mapping) or not value:
        raise _Bad(f"invalid value {value!r}", f"a mapping of {', '.join(allowed)}", fix)
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key == "memory":
            out[key] = _triple(item, lambda v: _parse_with(parse_memory, v, "megabytes", fix), "MB", fix)
        elif key == "time":
            out[key] = _triple(
                item,
                lambda v: _parse_with(parse_duration, v, "a duration", fix),
                "durations such as 100ms, 1m, 5m",
                fix,
            )
        elif key == "payload_max":
            out[key] = _count(item, 1, "payload_max (bytes)", fix)
        else:
            raise _Bad(f"unknown action limit {key!r}{_suggest(key, allowed)}", ", ".join(allowed), fix)
    return out


def _fraction(value: Any) -> float:
    fix = "blackbox_fraction: 10%"
    text = _text(value).strip()
    try:
        number = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise _Bad(f"invalid value {value!r}", "a percentage 0%..100% (or a fraction 0..1)", fix) from None
    if not 0 <= number <= 1:
        raise _Bad(f"{value!r} is outside 0%..100%", "a percentage 0%..100% (or a fraction 0..1)", fix)
    return number


def _factor(value: Any) -> float:
    fix = "timeout_factor: 2"
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise _Bad(f"invalid value {value!r}", "a positive number (the chart's default is 2)", fix)
    return float(value)


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "scheduler": lambda v: _choice(v, SCHEDULERS, "scheduler: new"),
    "container_factory": lambda v: _choice(v, FACTORIES, "container_factory: docker"),
    "prewarm": _prewarm,
    "idle_timeout": lambda v: _parse_with(
        parse_duration, v, "a duration such as 15s or 10m", "idle_timeout: 15s"
    ),
    "user_memory": lambda v: _parse_with(
        parse_memory, v, "megabytes >= 128, e.g. 4096 or 4g", "user_memory: 4096"
    ),
    "concurrency": _concurrency,
    "limits": _limits,
    "action_limits": _action_limits,
    "blackbox_fraction": _fraction,
    "timeout_factor": _factor,
}


def _suggest(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --- Helm values of the knobs ------------------------------------------------------------------------------


def _knob_values(knobs: Mapping[str, Any]) -> dict[str, Any]:
    """Chart values of the knobs without an ``--ow-*`` setting (prewarm, idle, memory go through those)."""
    from pytest_openwhisk.kube.values import merge

    values: dict[str, Any] = {}
    scheduler = knobs.get("scheduler")
    if (
        scheduler == "new"
    ):  # what the chart needs: scheduler pods, etcd (in-cluster only), ElasticSearch store
        values = merge(
            values,
            {
                "scheduler": {"enabled": True},
                "etcd": {"external": False},
                "activationStoreBackend": "ElasticSearch",
            },
        )
    elif scheduler == "default":
        values = merge(values, {"scheduler": {"enabled": False}})
    if "container_factory" in knobs:
        values = merge(values, {"invoker": {"containerFactory": {"impl": knobs["container_factory"]}}})
    concurrency = knobs.get("concurrency")
    if concurrency:
        values = merge(
            values,
            {
                "whisk": {"limits": {"actions": {"concurrency": dict(concurrency)}}},
                "invoker": {"containerFactory": {"enableConcurrency": concurrency["max"] > 1}},
            },
        )
    for key, value in (knobs.get("limits") or {}).items():
        values = merge(values, {"whisk": {"limits": {RATE_LIMITS[key][1]: value}}})
    actions = knobs.get("action_limits") or {}
    for part in ("memory", "time"):
        if part in actions:
            shown = {
                b: (f"{round(v)}m" if part == "memory" else format_duration(v))
                for b, v in actions[part].items()
            }
            values = merge(values, {"whisk": {"limits": {"actions": {part: shown}}}})
    if "payload_max" in actions:
        values = merge(
            values, {"whisk": {"limits": {"activation": {"payload": {"max": str(actions["payload_max"])}}}}}
        )
    if "blackbox_fraction" in knobs:
        values = merge(
            values,
            {"whisk": {"loadbalancer": {"blackboxFraction": f"{knobs['blackbox_fraction'] * 100:g}%"}}},
        )
    if "timeout_factor" in knobs:
        values = merge(values, {"whisk": {"loadbalancer": {"timeoutFactor": knobs["timeout_factor"]}}})
    return values


def _check_requirements(knobs: Mapping[str, Any], helm: Mapping[str, Any], where: str) -> None:
    """The chart's requirements for the knobs, against the raw ``helm:`` section."""
    if knobs.get("scheduler") == "new":
        store = helm.get("activationStoreBackend")
        if store is not None and store != "ElasticSearch":
            raise ProfileError(
                f"{where}: knob `scheduler: new` needs the ElasticSearch activation store, but helm sets "
                f"activationStoreBackend: {store}; the chart's scheduler reads activations from "
                "ElasticSearch. "
                "Fix: remove activationStoreBackend from helm (the knob sets it)"
            )
        etcd = helm.get("etcd")
        if isinstance(etcd, Mapping) and etcd.get("external"):
            raise ProfileError(
                f"{where}: knob `scheduler: new` needs the chart's own etcd, but helm sets etcd.external: "
                "true, "
                "which the chart does not support (values.yaml: 'external etcd is not supported yet'). "
                "Fix: remove etcd.external from helm"
            )
        scheduler = helm.get("scheduler")
        if isinstance(scheduler, Mapping) and scheduler.get("enabled") is False:
            raise ProfileError(
                f"{where}: knob `scheduler: new` contradicts helm scheduler.enabled: false. "
                "Fix: remove scheduler.enabled from helm"
            )


# --- files -------------------------------------------------------------------------------------------------


def parse_profile(data: Any, origin: str = "<inline>") -> Profile:
    """Validate a profile mapping (as read from YAML) into a :class:`Profile`."""
    from pytest_openwhisk.options import _BY_NAME  # one table of option parsers

    where = f"profile {origin}"
    if not isinstance(data, Mapping):
        raise ProfileError(
            f"{where} must hold a mapping with name, knobs, settings and helm, "
            f"not a {type(data).__name__}; see docs/profiles.md"
        )
    unknown = [k for k in data if k not in _TOP_KEYS]
    if unknown:
        raise ProfileError(
            f"{where}: unknown key {unknown[0]!r}{_suggest(unknown[0], _TOP_KEYS)}; "
            f"a profile has {', '.join(_TOP_KEYS)}"
        )
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ProfileError(
            f"{where}: name {name!r} is missing or invalid; use lower-case letters, digits, "
            ". _ - (e.g. name: idle-15s)"
        )
    where = f"profile {name!r} ({origin})"
    for section in ("knobs", "settings", "helm"):
        if data.get(section) is not None and not isinstance(data[section], Mapping):
            raise ProfileError(f"{where}: {section} must be a mapping, not {type(data[section]).__name__}")
    knobs: dict[str, Any] = {}
    for knob, value in (data.get("knobs") or {}).items():
        if knob not in _PARSERS:
            raise ProfileError(
                f"{where}: unknown knob {knob!r}{_suggest(knob, _PARSERS)}; knobs are "
                f"{', '.join(_PARSERS)} (other --ow-* options go under settings:, raw chart "
                "values under helm:)"
            )
        try:
            knobs[knob] = _PARSERS[knob](value)
        except _Bad as exc:
            raise ProfileError(
                f"{where}: knob {knob}: {exc.problem}; allowed: {exc.allowed}. Fix, e.g.: {exc.fix}"
            ) from None
    settings: dict[str, Any] = {}
    raw_settings: dict[str, str] = {}
    for key, value in (data.get("settings") or {}).items():
        option = str(key).replace("-", "_").removeprefix("ow_")
        if option in _KNOB_SETTINGS:
            raise ProfileError(
                f"{where}: settings.{key} is a knob; move it under knobs: (knobs: {{{option}: {value}}})"
            )
        if option in _SESSION_SETTINGS or option not in _BY_NAME:
            allowed = sorted(
                n.replace("_", "-") for n in _BY_NAME if n not in (*_SESSION_SETTINGS, *_KNOB_SETTINGS)
            )
            why = (
                "says where or how to connect, which the command line chooses, not a profile"
                if option in _SESSION_SETTINGS
                else f"is not an --ow-* option{_suggest(option, _BY_NAME)}"
            )
            raise ProfileError(f"{where}: settings.{key} {why}; profile settings are {', '.join(allowed)}")
        opt = _BY_NAME[option]
        text = "on" if value is True else "off" if value is False else str(value)
        try:
            settings[option] = opt.parse(text)
        except argparse.ArgumentTypeError as exc:
            raise ProfileError(f"{where}: settings.{key}: {exc}") from None
        raw_settings[option] = text
    for knob in _KNOB_SETTINGS:
        if knob in knobs:
            settings[knob] = knobs[knob]
    helm = dict(data.get("helm") or {})
    _check_requirements(knobs, helm, where)
    return Profile(
        name=name,
        origin=origin,
        description=str(data.get("description") or ""),
        knobs=knobs,
        settings=settings,
        raw_settings=raw_settings,
        helm=helm,
    )


def profiles_dir() -> Path:
    """Our profiles: ``helm/profiles`` of the checkout or of the installed data files."""
    from pytest_openwhisk.kube.values import values_dir

    return values_dir() / "profiles"


def available() -> list[str]:
    """Names of the profiles we ship."""
    folder = profiles_dir()
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def load_profile(ref: str | Path) -> Profile:
    """A profile by name (``helm/profiles/<name>.yaml``) or path; :class:`ProfileError` when invalid."""
    text = str(ref).strip()
    path = Path(text).expanduser()
    is_path = isinstance(ref, Path) or "/" in text or text.endswith((".yaml", ".yml")) or path.is_file()
    if not is_path:
        try:
            candidate = profiles_dir() / f"{text}.yaml"
        except ConfigError:
            candidate = Path("/nonexistent")
        if not candidate.is_file():
            names = available()
            raise ProfileError(
                f"unknown profile {text!r}{_suggest(text, names)}; ours are "
                f"{', '.join(names) or '(none installed)'}, or give the path of a YAML file"
            )
        path = candidate
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfileError(
            f"profile file {text!r} does not exist; give a path to a YAML file or one of "
            f"{', '.join(available())}"
        ) from None
    except OSError as exc:
        raise ProfileError(f"cannot read profile file {text!r}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"profile file {text!r} is not valid YAML: {exc}") from None
    profile = parse_profile(data, str(path))
    return profile
