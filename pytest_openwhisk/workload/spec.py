"""Workload description: function instances, arrival processes, activity windows, and our JSON form.

A :class:`Workload` is a test of ``duration_s`` seconds with a ``seed`` and one or more
:class:`Instance` objects. Each instance invokes one action with one arrival process
(``poisson`` or ``uniform`` at ``rate`` requests/s, or ``trace``: a replayed list of inter-arrival
gaps) inside its activity window ``[start, end]``. Several instances may target the same action.

Validation happens on construction; every error names the field, the value, what is allowed and how
to fix it (:class:`WorkloadError`, a :class:`~pytest_openwhisk.errors.ConfigError`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pytest_openwhisk.errors import ConfigError

#: arrival processes an instance may use
DISTRIBUTIONS = ("poisson", "uniform", "trace")
#: format tag of our own workload JSON
FORMAT = "pytest-openwhisk/workload@1"


class WorkloadError(ConfigError):
    """A workload description is invalid (the message names the field, the value and the fix)."""


def _fail(where: str, value: object, allowed: str, fix: str) -> WorkloadError:
    return WorkloadError(f"{where} = {value!r} is invalid: {allowed}; {fix}")


def _number(where: str, value: object, *, minimum: float = 0.0, strict: bool = False) -> float:
    """``value`` as a finite float >= minimum (> minimum when ``strict``)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(where, value, "expected a finite number", f"set {where} to a number such as 10")
    number = float(value)
    if number < minimum or (strict and number == minimum):
        op = ">" if strict else ">="
        raise _fail(where, value, f"must be {op} {minimum:g}", f"set {where} {op} {minimum:g}")
    return number


@dataclass(frozen=True)
class Instance:
    """One function instance: an action invoked by one arrival process inside an activity window.

    ``window`` is ``(start_s, end_s)`` relative to the workload start; ``None`` means the whole test.
    For ``trace`` the ``interarrivals`` gaps (seconds) are replayed from the window start and cut at
    its end. ``params`` is the JSON body; ``param_file`` a JSON file read at send time instead.
    ``data_file`` switches to a binary POST to the web-action URL (FaaSProfiler's image workloads).
    ``blocking`` overrides the workload default when not ``None``.
    """

    name: str
    action: str
    distribution: str = "poisson"
    rate: float = 0.0
    window: tuple[float, float] | None = None
    interarrivals: tuple[float, ...] = ()
    params: Mapping[str, Any] | None = None
    param_file: str | None = None
    data_file: str | None = None
    content_type: str = "image/jpeg"
    blocking: bool | None = None

    def __post_init__(self) -> None:
        where = f"instances[{self.name!r}]"
        if not isinstance(self.name, str) or not self.name:
            raise _fail("instance name", self.name, "expected a non-empty string", "name every instance")
        if not isinstance(self.action, str) or not self.action.strip("/"):
            raise _fail(
                f"{where}.action",
                self.action,
                "expected an action name",
                "set action to the deployed action, e.g. 'hello' or 'pkg/hello'",
            )
        if self.distribution not in DISTRIBUTIONS:
            raise _fail(
                f"{where}.distribution",
                self.distribution,
                f"allowed values are {', '.join(DISTRIBUTIONS)}",
                "use 'poisson' or 'uniform' with a rate, or 'trace' with interarrivals",
            )
        object.__setattr__(self, "rate", _number(f"{where}.rate", self.rate))
        if self.distribution == "trace":
            if (
                not isinstance(self.interarrivals, Sequence)
                or isinstance(self.interarrivals, str)
                or not self.interarrivals
            ):
                raise _fail(
                    f"{where}.interarrivals",
                    self.interarrivals,
                    "a trace needs a non-empty list of inter-arrival gaps in seconds",
                    "give interarrivals=[0.5, 0.1, ...] or use distribution 'poisson'",
                )
            gaps = tuple(_number(f"{where}.interarrivals[{i}]", g) for i, g in enumerate(self.interarrivals))
            object.__setattr__(self, "interarrivals", gaps)
        elif self.interarrivals:
            raise _fail(
                f"{where}.interarrivals",
                self.interarrivals,
                f"only allowed with distribution 'trace' (this instance is {self.distribution!r})",
                "drop interarrivals or set distribution='trace'",
            )
        if self.window is not None:
            if (
                isinstance(self.window, str | bytes)
                or not isinstance(self.window, Sequence)
                or len(self.window) != 2
            ):
                raise _fail(
                    f"{where}.window",
                    self.window,
                    "expected [start_s, end_s]",
                    "give two numbers, e.g. [5, 10]",
                )
            start = _number(f"{where}.window[0]", self.window[0])
            end = _number(f"{where}.window[1]", self.window[1])
            if end <= start:
                raise _fail(
                    f"{where}.window",
                    self.window,
                    "end must be greater than start",
                    "swap the bounds or widen the window",
                )
            object.__setattr__(self, "window", (start, end))
        if self.params is not None and not isinstance(self.params, Mapping):
            raise _fail(
                f"{where}.params",
                self.params,
                "expected a JSON object (dict)",
                "pass a dict such as {'name': 'x'}",
            )
        if self.params is not None and self.param_file is not None:
            raise _fail(
                f"{where}.param_file",
                self.param_file,
                "params and param_file are exclusive",
                "keep one of them",
            )
        if self.blocking is not None and not isinstance(self.blocking, bool):
            raise _fail(
                f"{where}.blocking", self.blocking, "expected true, false or null", "use a JSON boolean"
            )

    def bounds(self, duration_s: float) -> tuple[float, float]:
        """The activity window clipped to the test: ``(start, end)`` in seconds."""
        start, end = self.window if self.window is not None else (0.0, duration_s)
        return start, min(end, duration_s)

    def body(self, base: Path | None = None) -> bytes | None:
        """The request body: JSON params, the param file's bytes, or the data file's bytes."""
        if self.data_file is not None:
            return _resolve(self.data_file, base).read_bytes()
        if self.param_file is not None:
            path = _resolve(self.param_file, base)
            raw = path.read_bytes()
            try:
                parsed = json.loads(raw)
            except ValueError as exc:
                raise _fail(
                    f"instances[{self.name!r}].param_file",
                    str(path),
                    f"not valid JSON ({exc})",
                    "fix the file or point param_file at a JSON object",
                ) from exc
            if not isinstance(parsed, dict):
                raise _fail(
                    f"instances[{self.name!r}].param_file",
                    str(path),
                    "the file must hold a JSON object",
                    "wrap the parameters in {...}",
                )
            return raw
        if self.params is not None:
            return json.dumps(dict(self.params), separators=(",", ":")).encode()
        return None

    def to_json(self) -> dict[str, Any]:
        """This instance in our JSON form (defaults omitted)."""
        out: dict[str, Any] = {"action": self.action, "distribution": self.distribution}
        if self.distribution == "trace":
            out["interarrivals"] = list(self.interarrivals)
        else:
            out["rate"] = self.rate
        if self.window is not None:
            out["window"] = list(self.window)
        for key in ("params", "param_file", "data_file", "blocking"):
            value = getattr(self, key)
            if value is not None:
                out[key] = dict(value) if key == "params" else value
        if self.data_file is not None:
            out["content_type"] = self.content_type
        return out


def _resolve(path: str, base: Path | None) -> Path:
    candidate = Path(path)
    if not candidate.is_absolute() and base is not None:
        candidate = base / candidate
    if not candidate.is_file():
        raise WorkloadError(
            f"file {str(candidate)!r} does not exist; fix the path "
            "(relative paths are resolved against the workload file's folder)"
        )
    return candidate


@dataclass(frozen=True)
class Workload:
    """A whole open-loop test: ``duration_s`` seconds, a ``seed`` and its instances.

    ``base_dir`` resolves relative ``param_file``/``data_file`` paths (the JSON file's folder).
    ``hooks`` keeps FaaSProfiler's ``perf_monitoring`` scripts (run only on request, see docs).
    """

    name: str
    duration_s: float
    instances: tuple[Instance, ...]
    seed: int = 0
    blocking: bool = False
    base_dir: Path | None = None
    hooks: Mapping[str, str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise _fail("test_name", self.name, "expected a non-empty string", "name the workload")
        object.__setattr__(self, "duration_s", _number("duration_s", self.duration_s, strict=True))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise _fail(
                "seed",
                self.seed,
                "expected an integer >= 0",
                "set a fixed seed such as 100 (it makes the schedule reproducible)",
            )
        if not isinstance(self.blocking, bool):
            raise _fail("blocking", self.blocking, "expected true or false", "use a JSON boolean")
        instances = tuple(self.instances)
        if not instances:
            raise _fail(
                "instances",
                [],
                "a workload needs at least one instance",
                "add e.g. Instance('hello', action='hello', rate=10)",
            )
        names = [i.name for i in instances]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise _fail(
                "instances",
                dup,
                "instance names must be unique",
                "rename the duplicates (the same action may appear under several names)",
            )
        for inst in instances:
            start, _ = inst.bounds(self.duration_s)
            if start >= self.duration_s:
                raise _fail(
                    f"instances[{inst.name!r}].window",
                    inst.window,
                    f"starts at or after the end of the test ({self.duration_s:g}s)",
                    "move the window inside [0, duration_s] or lengthen the test",
                )
        object.__setattr__(self, "instances", instances)

    @property
    def actions(self) -> list[str]:
        """The distinct actions invoked, in first-seen order."""
        return list(dict.fromkeys(i.action for i in self.instances))

    def with_actions(self, names: Mapping[str, str]) -> Workload:
        """A copy whose instances invoke ``names[action]`` instead of ``action`` (others unchanged)."""
        instances = tuple(replace(i, action=names.get(i.action, i.action)) for i in self.instances)
        return replace(self, instances=instances)

    def is_blocking(self, instance: Instance) -> bool:
        """Whether ``instance`` invokes with ``blocking=true``."""
        return self.blocking if instance.blocking is None else instance.blocking

    def to_json(self) -> dict[str, Any]:
        """Our JSON form (see docs/workload.md); :func:`from_json` reads it back."""
        out: dict[str, Any] = {
            "format": FORMAT,
            "name": self.name,
            "duration_s": self.duration_s,
            "seed": self.seed,
            "blocking": self.blocking,
            "instances": {i.name: i.to_json() for i in self.instances},
        }
        if self.hooks:
            out["hooks"] = dict(self.hooks)
        return out

    def dump(self, path: str | Path) -> Path:
        """Write :meth:`to_json` to ``path`` and return it."""
        target = Path(path)
        target.write_text(json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n")
        return target


_INSTANCE_KEYS = {
    "action",
    "distribution",
    "rate",
    "window",
    "interarrivals",
    "params",
    "param_file",
    "data_file",
    "content_type",
    "blocking",
}
_TOP_KEYS = {"format", "name", "duration_s", "seed", "blocking", "instances", "hooks"}


def from_json(data: Mapping[str, Any], base_dir: Path | None = None) -> Workload:
    """A :class:`Workload` from our JSON form; unknown keys are errors (they are usually typos)."""
    if not isinstance(data, Mapping):
        raise _fail("workload", type(data).__name__, "expected a JSON object", "see docs/workload.md")
    if data.get("format", FORMAT) != FORMAT:
        raise _fail(
            "format",
            data.get("format"),
            f"expected {FORMAT!r}",
            "FaaSProfiler files are read with load_faasprofiler()",
        )
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise _fail(
            "workload keys",
            unknown,
            f"allowed keys are {', '.join(sorted(_TOP_KEYS))}",
            "remove or rename them",
        )
    raw_instances = data.get("instances")
    if not isinstance(raw_instances, Mapping):
        raise _fail(
            "instances",
            raw_instances,
            "expected an object of name -> instance",
            'write "instances": {"a": {"action": "hello", "rate": 5}}',
        )
    instances = []
    for name, spec in raw_instances.items():
        if not isinstance(spec, Mapping):
            raise _fail(f"instances[{name!r}]", spec, "expected an object", "see docs/workload.md")
        bad = sorted(set(spec) - _INSTANCE_KEYS)
        if bad:
            raise _fail(
                f"instances[{name!r}] keys",
                bad,
                f"allowed keys are {', '.join(sorted(_INSTANCE_KEYS))}",
                "remove or rename them",
            )
        kwargs = dict(spec)
        if "interarrivals" in kwargs and isinstance(kwargs["interarrivals"], list):
            kwargs["interarrivals"] = tuple(kwargs["interarrivals"])
        if isinstance(kwargs.get("window"), list):
            kwargs["window"] = tuple(kwargs["window"])
        if "action" not in kwargs:
            raise _fail(
                f"instances[{name!r}].action",
                None,
                "every instance needs an action",
                'add "action": "<deployed action name>"',
            )
        instances.append(Instance(name=str(name), **kwargs))
    return Workload(
        name=data.get("name", "workload"),
        duration_s=data.get("duration_s", 0),
        instances=tuple(instances),
        seed=data.get("seed", 0),
        blocking=data.get("blocking", False),
        base_dir=base_dir,
        hooks=dict(data.get("hooks") or {}),
    )
