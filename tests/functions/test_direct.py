"""Catalogue functions run directly (no OpenWhisk): sample input -> check, bad input -> clear error."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from pytest_openwhisk.catalog import FunctionSpec, load_catalog

from .direct import run_direct

PRIMITIVES = [name for name, spec in load_catalog().items() if not spec.is_sequence]


@pytest.mark.parametrize("name", PRIMITIVES)
def test_sample_input_passes_the_manifest_check(
    name: str, catalog: dict[str, FunctionSpec], direct_dir: Path
) -> None:
    spec = catalog[name]
    tool = {"java": "javac", "ruby": "ruby"}.get(spec.language)
    if tool is not None and shutil.which(tool) is None:
        pytest.skip(f"{name} needs {tool} on this host (bash .ci/setup)")
    params = spec.sample_input()
    if name == "image-store":
        params["db"] = str(direct_dir / "store.sqlite")
    if name == "chain-nested-python":
        params["n"] = 1  # deeper chains call the REST API: see test_deployed.py
    spec.check(run_direct(spec, params, direct_dir), params)


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("primes-python", {"n": -1}, "parameter 'n' is -1; use an integer from 0 to 50000000"),
        ("primes-nodejs", {"n": "10"}, "parameter 'n' is \"10\"; use an integer from 0 to 50000000"),
        ("base64-python", {"rounds": 0}, "parameter 'rounds' is 0; use an integer from 1 to 100000"),
        ("base64-nodejs", {"text": 5}, "parameter 'text' is 5; use a string"),
        ("json-python", {"items": 1.5}, "parameter 'items' is 1.5; use an integer from 0 to 200000"),
        ("json-nodejs", {"rounds": 5000}, "parameter 'rounds' is 5000; use an integer from 1 to 1000"),
        ("sleep-python", {"ms": "5"}, "parameter 'ms' is '5'; use a number of milliseconds"),
        ("chain-step-python", {"n": "x"}, "parameter 'n' is 'x'; use an integer"),
        ("chain-step-nodejs", {"fib": -1}, "parameter 'fib' is -1; use an integer from 0 to 100000"),
        ("chain-nested-python", {"n": 0}, "parameter 'n' is 0; use an integer depth from 1 to 200"),
        ("thumbnail-python", {"image": "not base64!"}, "parameter 'image' is 'not base64!'; use a base64"),
        ("thumbnail-python", {"size": 0}, "parameter 'size' is 0; use an integer number of pixels"),
        ("markdown-python", {"text_b64": "%%%"}, "parameter 'text_b64' is not base64"),
        ("image-transform", {}, "parameter 'extractedMetadata' is NoneType; this step expects the output of"),
        ("image-store", {"metadata": {}, "thumbnail": "", "db": "/no/such/dir/x.db"}, "parameter 'db' is"),
    ],
)
def test_bad_parameters_get_an_error_naming_the_value_and_the_fix(
    name: str, params: dict[str, Any], message: str, catalog: dict[str, FunctionSpec], direct_dir: Path
) -> None:
    result = run_direct(catalog[name], params, direct_dir)
    assert set(result) == {"error"}
    assert message in result["error"]


def test_python_and_node_twins_agree(catalog: dict[str, FunctionSpec], direct_dir: Path) -> None:
    for family, params in (
        ("json", {"items": 777, "rounds": 2}),
        ("primes", {"n": 54321}),
        ("echo", {"a": [1, {"b": None}]}),
        ("base64", {"text": "héllo ✓", "repeat": 3, "rounds": 2}),
    ):
        python = run_direct(catalog[f"{family}-python"], params, direct_dir)
        node = run_direct(catalog[f"{family}-nodejs"], params, direct_dir)
        assert python == node, family


def test_base64_returns_the_decoded_text(catalog: dict[str, FunctionSpec], direct_dir: Path) -> None:
    result = run_direct(catalog["base64-python"], {"text": "abc", "repeat": 2}, direct_dir)
    assert result == {"decoded": "abcabc", "length": 6, "encoded_length": 8, "rounds": 1}


def test_chain_step_twins_agree_on_the_chain_state(
    catalog: dict[str, FunctionSpec], direct_dir: Path
) -> None:
    previous = {"n": 7, "fib": 1000, "startTimes": [1], "retTimes": [2]}
    python = run_direct(catalog["chain-step-python"], previous, direct_dir)
    node = run_direct(catalog["chain-step-nodejs"], previous, direct_dir)
    assert {k: python[k] for k in ("n", "fib", "fibDigits")} == {
        k: node[k] for k in ("n", "fib", "fibDigits")
    }
    assert python["fibDigits"] == 209  # F(1000) has 209 digits
    assert len(python["startTimes"]) == len(node["startTimes"]) == 2


def test_chain_step_appends_its_timestamps(catalog: dict[str, FunctionSpec], direct_dir: Path) -> None:
    previous = {"n": 41, "startTimes": [1.0], "retTimes": [2.0]}
    result = run_direct(catalog["chain-step-python"], previous, direct_dir)
    assert result["n"] == 42
    assert result["startTimes"][0] == 1.0
    assert result["retTimes"][0] == 2.0
    assert len(result["startTimes"]) == len(result["retTimes"]) == 2
    assert result["startTimes"][1] <= result["retTimes"][1]


def test_nested_depth_one_needs_no_api(catalog: dict[str, FunctionSpec], direct_dir: Path) -> None:
    result = run_direct(catalog["chain-nested-python"], {"n": 1}, direct_dir)
    assert result["result"] == 1
    assert result["invokeTimes"] == []


def test_nested_without_api_key_says_which_annotation_to_set(
    catalog: dict[str, FunctionSpec], direct_dir: Path
) -> None:
    result = run_direct(catalog["chain-nested-python"], {"n": 2}, direct_dir, env={"__OW_API_KEY": ""})
    assert "provide-api-key=true" in result["error"]


def test_pipeline_steps_compose_and_store_a_row(catalog: dict[str, FunctionSpec], direct_dir: Path) -> None:
    pipeline = catalog["image-pipeline"]
    db = direct_dir / "pipeline.sqlite"
    value: dict[str, Any] = pipeline.sample_input()
    for step in pipeline.components:
        value = run_direct(catalog[step], {**value, "db": str(db)}, direct_dir)
        assert "error" not in value, value
    pipeline.check(value)
    with sqlite3.connect(db) as conn:
        query = "SELECT album, name, length(thumbnail) FROM images WHERE id = ?"
        rows = conn.execute(query, (value["imageID"],))
        assert rows.fetchall() == [("catalogue", "sample.jpg", value["thumbnailBytes"])]
    assert value["albumCount"] == 1
