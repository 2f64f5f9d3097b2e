"""Reader of FaaSProfiler's workload JSON (``workload_configs.json``), as is.

Fields (docs/workload.md "FaaSProfiler compatibility"): ``test_name``, ``test_duration_in_seconds``,
``random_seed``, ``blocking_cli``, ``instances{application, distribution Poisson|Uniform, rate,
activity_window, interarrivals_list, param_file, data_file}`` and
``perf_monitoring{runtime_script, post_script}``.

Differences from FaaSProfiler, on purpose:

- the schedule is reproducible: each instance draws from its own stream derived from ``random_seed`` and
  the instance name with a stable hash (FaaSProfiler salted the Uniform shift with Python's ``hash`` and
  shared one Poisson seed between instances); ``random_seed: null`` picks a fresh seed and records it;
- ``interarrivals_list`` replays the gaps from t = 0 and ignores ``activity_window`` (as FaaSProfiler);
- ``data_file`` is POSTed as raw bytes (``Content-Type: image/jpeg``) to the web-action URL
  ``/api/v1/web/<namespace>/default/<action>`` like FaaSProfiler does;
- ``perf_monitoring`` scripts are kept in :attr:`Workload.hooks` and only run when the caller opts in
  (``run_hooks=True``); the ``post_script`` that FaaSProfiler documented but never ran is then run too.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_openwhisk.workload.spec import Instance, Workload, WorkloadError

#: FaaSProfiler's distribution names -> ours
DISTRIBUTION_NAMES = {"Poisson": "poisson", "Uniform": "uniform"}
_TOP_KEYS = {
    "test_name",
    "test_duration_in_seconds",
    "random_seed",
    "blocking_cli",
    "instances",
    "perf_monitoring",
}
_INSTANCE_KEYS = {
    "application",
    "distribution",
    "rate",
    "activity_window",
    "interarrivals_list",
    "param_file",
    "data_file",
}


def _err(field: str, value: object, allowed: str, fix: str) -> WorkloadError:
    return WorkloadError(f"FaaSProfiler config: {field} = {value!r} is invalid: {allowed}; {fix}")


def from_faasprofiler(data: Mapping[str, Any], base_dir: Path | None = None) -> Workload:
    """Convert a parsed FaaSProfiler workload config into a :class:`Workload` (validating it)."""
    if not isinstance(data, Mapping):
        raise _err("config", type(data).__name__, "expected a JSON object", "see FaaSProfiler's README")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise _err(
            "top-level keys",
            unknown,
            f"allowed keys are {', '.join(sorted(_TOP_KEYS))}",
            "remove or rename them",
        )
    for key in ("test_name", "test_duration_in_seconds", "random_seed", "blocking_cli", "instances"):
        if key not in data:
            raise _err(key, None, "the field is required", f'add "{key}" to the config')
    name = data["test_name"]
    if not isinstance(name, str) or not name:
        raise _err("test_name", name, "must be a non-empty string", 'set e.g. "test_name": "base64-15s"')
    duration = data["test_duration_in_seconds"]
    if isinstance(duration, bool) or not isinstance(duration, int | float) or duration <= 0:
        raise _err("test_duration_in_seconds", duration, "must be a number > 0", "set e.g. 15")
    seed = data["random_seed"]
    if seed is None:
        seed = secrets.randbelow(2**32)  # FaaSProfiler: null = time-varying; we record the one we drew
    elif isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise _err("random_seed", seed, "must be an integer >= 0 or null", "set e.g. 100")
    blocking = data["blocking_cli"]
    if not isinstance(blocking, bool):
        raise _err("blocking_cli", blocking, "must be true or false", "use a JSON boolean")
    raw_instances = data["instances"]
    if not isinstance(raw_instances, Mapping) or not raw_instances:
        raise _err(
            "instances",
            raw_instances,
            "must be a non-empty object of name -> instance",
            'write "instances": {"i1": {"application": "hello", "distribution": "Poisson", "rate": 5}}',
        )
    instances = tuple(_instance(str(key), spec) for key, spec in raw_instances.items())
    hooks: dict[str, str | None] = {}
    perf = data.get("perf_monitoring")
    if perf is not None:
        if not isinstance(perf, Mapping):
            raise _err("perf_monitoring", perf, "must be an object", 'write {"runtime_script": null}')
        for key in ("runtime_script", "post_script"):
            value = perf.get(key)
            if value is not None and not isinstance(value, str):
                raise _err(
                    f"perf_monitoring.{key}",
                    value,
                    "must be a script path or null",
                    "give a path such as monitoring/RuntimeMonitoring.sh",
                )
            if value:
                hooks[key] = value
    return Workload(
        name=name,
        duration_s=float(duration),
        instances=instances,
        seed=seed,
        blocking=blocking,
        base_dir=base_dir,
        hooks=hooks,
    )


def _instance(key: str, spec: object) -> Instance:
    where = f"instances[{key!r}]"
    if not isinstance(spec, Mapping):
        raise _err(
            where, spec, "must be an object", '{"application": "...", "distribution": "Poisson", "rate": 5}'
        )
    unknown = sorted(set(spec) - _INSTANCE_KEYS)
    if unknown:
        raise _err(
            f"{where} keys",
            unknown,
            f"allowed keys are {', '.join(sorted(_INSTANCE_KEYS))}",
            "remove or rename them",
        )
    action = spec.get("application")
    if not isinstance(action, str) or not action:
        raise _err(
            f"{where}.application",
            action,
            "must be the OpenWhisk action name",
            'add "application": "<action>"',
        )
    window = spec.get("activity_window")
    if window is not None and (not isinstance(window, list) or len(window) != 2):
        raise _err(
            f"{where}.activity_window",
            window,
            "must be a list of length 2 [start_s, end_s]",
            "write e.g. [5, 10]",
        )
    if window is not None and all(isinstance(x, int | float) for x in window) and window[1] <= window[0]:
        raise _err(
            f"{where}.activity_window",
            window,
            "the end must be greater than the start",
            "swap the bounds or widen the window",
        )
    common: dict[str, Any] = {"param_file": spec.get("param_file"), "data_file": spec.get("data_file")}
    gaps = spec.get("interarrivals_list")
    if gaps is not None:
        if not isinstance(gaps, list):
            raise _err(
                f"{where}.interarrivals_list",
                gaps,
                "must be a list of gaps in seconds",
                "write e.g. [5, 0.13, 0.15]",
            )
        return Instance(name=key, action=action, distribution="trace", interarrivals=tuple(gaps), **common)
    dist = spec.get("distribution")
    if dist not in DISTRIBUTION_NAMES:
        raise _err(
            f"{where}.distribution",
            dist,
            f"supported distributions are {', '.join(DISTRIBUTION_NAMES)}",
            "use Poisson or Uniform, or give interarrivals_list",
        )
    rate = spec.get("rate", 0)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or rate < 0:
        raise _err(f"{where}.rate", rate, "must be a number >= 0 (invocations per second)", "set e.g. 10")
    return Instance(
        name=key,
        action=action,
        distribution=DISTRIBUTION_NAMES[dist],
        rate=float(rate),
        window=tuple(window) if window is not None else None,
        **common,
    )
