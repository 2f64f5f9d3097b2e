"""Warm latency, cold latency and cold-start ratio of every catalogue function, with SLOs and output checks.

Each test deploys one function from ``functions/``, checks its output on the manifest's sample input,
then measures. SLO targets are the manifest's ``slo.warm`` / ``slo.cold`` (see docs/catalogue.md). The
warm measurement must stay warm (``cold_ratio`` 0% in the manifests) under the default pool; the cold
one forces a cold start before every invocation through the backend and checks that each one was.
A function whose kind the backend does not offer (e.g. ``ruby:2.5`` on a cluster without that runtime) is
skipped with the kinds the backend has.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_openwhisk.catalog import FunctionSpec, KindUnavailable, deploy, load_catalog
from pytest_openwhisk.samples import annotation

WARM_ROUNDS = 40
WARM_WARMUP = 3
COLD_ROUNDS = 5

CATALOG = load_catalog()
WARM = [pytest.param(n, marks=s.slo_marks("warm"), id=n) for n, s in CATALOG.items()]
COLD = [pytest.param(n, marks=s.slo_marks("cold"), id=n) for n, s in CATALOG.items()]


def _deploy_checked(
    name: str, catalog: dict[str, FunctionSpec], ow_action: Any, apihost: str
) -> tuple[Any, dict[str, Any]]:
    """Deploy ``name`` and check its output on the sample input (the call the benchmark measures)."""
    spec = catalog[name]
    try:
        action = deploy(ow_action, spec, catalog=catalog)
    except KindUnavailable as exc:
        pytest.skip(str(exc))
    params = spec.sample_input()
    if name == "chain-nested-python":
        params["apihost"] = apihost  # fallback when the invoker does not set __OW_API_HOST
    spec.check(action.result(params), params)
    return action, params


@pytest.mark.parametrize("name", WARM)
def test_warm(
    name: str, catalog: dict[str, FunctionSpec], ow_action: Any, ow_cluster: Any, ow_bench: Any
) -> None:
    action, params = _deploy_checked(name, catalog, ow_action, ow_cluster.apihost)
    measurement = ow_bench.warm(action, params, rounds=WARM_ROUNDS, warmup=WARM_WARMUP)
    assert len(measurement.samples) == WARM_ROUNDS


@pytest.mark.parametrize("name", COLD)
def test_cold(
    name: str,
    catalog: dict[str, FunctionSpec],
    ow_action: Any,
    ow_cluster: Any,
    ow_client: Any,
    ow_bench: Any,
) -> None:
    action, params = _deploy_checked(name, catalog, ow_action, ow_cluster.apihost)
    measurement = ow_bench.cold(action, params, rounds=COLD_ROUNDS)
    if not catalog[name].is_sequence:
        assert measurement.extra["not_cold"] == 0, "the backend could not force a cold start on every round"
        return
    # a sequence's own record has no initTime: every component of the last run must have started cold
    last = ow_client.get_activation(measurement.samples[-1].activation_id)
    components = [ow_client.wait_activation(aid, timeout=30) for aid in last["logs"]]
    inits = [annotation(c, "initTime") for c in components]
    assert None not in inits, f"components of {name} that did not start cold: {inits}"
