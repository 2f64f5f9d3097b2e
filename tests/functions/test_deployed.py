"""Every catalogue function deployed on the session's OpenWhisk and invoked once, output checked.

Runs against the embedded backend by default and unchanged with ``--ow-cluster=existing|kind``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_openwhisk.catalog import FunctionSpec, KindUnavailable, deploy, load_catalog
from pytest_openwhisk.errors import ToolMissing

NAMES = sorted(n for n in load_catalog() if n != "image-pipeline")  # see test_pipeline_stores_...


def _params(spec: FunctionSpec, apihost: str) -> dict[str, Any]:
    params = spec.sample_input()
    if spec.name == "chain-nested-python":
        params["apihost"] = apihost  # fallback only: the invoker's __OW_API_HOST wins
    return params


@pytest.mark.parametrize("name", NAMES)
def test_function_deploys_and_passes_its_check(
    name: str, catalog: dict[str, FunctionSpec], ow_action: Any, ow_cluster: Any, tmp_path: Path
) -> None:
    spec = catalog[name]
    try:
        action = deploy(ow_action, spec, catalog=catalog)
    except (KindUnavailable, ToolMissing) as exc:  # java/ruby where the backend or host lacks them
        pytest.skip(str(exc))
    params = _params(spec, ow_cluster.apihost)
    result = action.result(params)
    spec.check(result, params)


def test_sequence_chain_carries_every_step_timeline(catalog: dict[str, FunctionSpec], ow_action: Any) -> None:
    step = deploy(ow_action, catalog["chain-step-python"])
    chain = ow_action.sequence("chain-5", [step] * 5)
    result = chain.result({"n": 0})
    assert result["n"] == 5
    assert len(result["startTimes"]) == len(result["retTimes"]) == 5
    assert result["startTimes"] == sorted(result["startTimes"])
    assert all(s <= r for s, r in zip(result["startTimes"], result["retTimes"], strict=True))


def test_nested_chain_reaches_the_requested_depth(
    catalog: dict[str, FunctionSpec], ow_action: Any, ow_cluster: Any
) -> None:
    spec = catalog["chain-nested-python"]
    action = deploy(ow_action, spec, memory=128)
    record = action.invoke({"n": 4, "apihost": ow_cluster.apihost})
    result = record.result if hasattr(record, "result") else record
    spec.check(result, {"n": 4})
    assert len(result["startTimes"]) == len(result["retTimes"]) == 4
    assert len(result["invokeTimes"]) == 3
    # the outermost level starts first and returns last
    assert result["startTimes"] == sorted(result["startTimes"])
    assert result["retTimes"] == sorted(result["retTimes"])


def test_nested_chain_error_propagates_to_the_caller(
    catalog: dict[str, FunctionSpec], ow_action: Any
) -> None:
    from pytest_openwhisk.errors import ActivationFailed

    # no provide-api-key annotation: the first level cannot call itself and says which annotation to set
    action = deploy(ow_action, catalog["chain-nested-python"], annotations={"provide-api-key": False})
    with pytest.raises(ActivationFailed, match="provide-api-key"):
        action.result({"n": 2})


def test_pipeline_stores_each_record_in_sqlite(catalog: dict[str, FunctionSpec], ow_action: Any) -> None:
    # the SQLite file lives in the store action's container (its private /tmp): two runs in a row on the
    # warm container find the first row again, and the row read back has the thumbnail's size
    pipeline = deploy(
        ow_action, catalog["image-pipeline"], catalog=catalog, params={"db": "/tmp/album.sqlite"}
    )
    params = catalog["image-pipeline"].sample_input(album="holidays")
    first = pipeline.result(params)
    second = pipeline.result(params)
    for result in (first, second):
        catalog["image-pipeline"].check(result, params)
        assert result["db"] == "/tmp/album.sqlite"
        assert result["thumbnailBytes"] > 1000
    assert second["imageID"] == first["imageID"] + 1
    assert second["albumCount"] == first["albumCount"] + 1
