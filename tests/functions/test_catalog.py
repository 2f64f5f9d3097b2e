"""Unit tests of pytest_openwhisk.catalog: manifest validation, the check language, zip building."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any, cast

import pytest

from pytest_openwhisk.catalog import (
    CheckFailed,
    ManifestError,
    build_zip,
    compile_check,
    deploy,
    evaluate_check,
    load_catalog,
    load_function,
    zip_path,
)


def write_function(
    root: Path, name: str, manifest: dict[str, Any], files: dict[str, str] | None = None
) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    for rel, text in (files if files is not None else {"f.py": "def main(a):\n    return a\n"}).items():
        (folder / rel).write_text(text)
    (folder / "manifest.json").write_text(json.dumps({"name": name, **manifest}))
    return folder


MINIMAL = {"description": "d", "kind": "python:3.11", "code": "f.py"}


# ------------------------------------------------------------------------------------ the shipped catalogue


def test_shipped_catalogue_loads_with_the_required_functions() -> None:
    catalog = load_catalog()
    for name in (
        "echo-python",
        "echo-nodejs",
        "sleep-python",
        "base64-python",
        "base64-nodejs",
        "json-python",
        "json-nodejs",
        "primes-python",
        "primes-nodejs",
        "markdown-python",
        "thumbnail-python",
        "chain-step-python",
        "chain-nested-python",
        "image-pipeline",
    ):
        assert name in catalog
    assert catalog["image-pipeline"].components == (
        "image-extract",
        "image-transform",
        "image-thumbnail",
        "image-store",
    )
    assert catalog["thumbnail-python"].zip is not None
    assert catalog["thumbnail-python"].zip.bundle == ("PIL",)
    assert catalog["chain-nested-python"].annotations == {"provide-api-key": True}
    assert catalog["primes-python"].sample_input() == {"n": 100000}


def test_sample_input_resolves_input_files_as_base64() -> None:
    spec = load_catalog()["thumbnail-python"]
    image = spec.sample_input()["image"]
    assert image.startswith("/9j/")  # base64 of a JPEG's FFD8FF marker
    assert spec.sample_input(size=64)["size"] == 64
    spec.sample_input()["image"] = "changed"
    assert spec.sample_input()["image"] == image  # a fresh copy every time


def test_every_shipped_slo_parses() -> None:
    from pytest_openwhisk.slo import parse_targets

    for spec in load_catalog().values():
        for targets in spec.slo.values():
            parse_targets(targets)


# ------------------------------------------------------------------------------------ manifest errors


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ({"description": "d", "code": "f.py"}, "field 'kind' is missing"),
        ({**MINIMAL, "name": "other"}, "field 'name' is 'other' but the folder is 'fn'"),
        ({**MINIMAL, "memory": 64}, "field 'memory' is 64; use an integer number of MB from 128 to 2048"),
        ({**MINIMAL, "timeout": "1s"}, "field 'timeout' is '1s'"),
        ({**MINIMAL, "colour": "red"}, "field 'colour' is not a manifest field; allowed fields: name"),
        ({**MINIMAL, "code": "missing.py"}, "field 'code' names"),
        ({**MINIMAL, "zip": {"include": ["*.py"]}}, "give exactly code or zip"),
        (
            {**MINIMAL, "kind": "go:1.21"},
            "field 'kind' is 'go:1.21'; use <language>:<version> with language one of python, nodejs, java, "
            "ruby (e.g. python:3.11, nodejs:20, java:8, ruby:2.5) or sequence",
        ),
        ({**MINIMAL, "kind": "java:8"}, "field 'code' names 'f.py', which is not a .java file"),
        ({**MINIMAL, "kind": "java:8", "code": "f.py", "main": "A.b"}, "not a .java file"),
        (
            {"description": "d", "kind": "ruby:2.5", "zip": {"include": ["*.rb"]}},
            "field 'zip' is not supported for kind 'ruby:2.5'; give a single source file as 'code'",
        ),
        (
            {"description": "d", "kind": "java:8", "zip": {"include": ["*.java"]}},
            "field 'zip' is not supported for kind 'java:8'; give the .java file as 'code'",
        ),
        (
            {"description": "d", "kind": "python:3.11", "zip": {"include": ["f.py"]}},
            "does not include __main__.py",
        ),
        ({"description": "d", "kind": "python:3.11", "zip": {"files": []}}, "field 'zip'"),
        ({**MINIMAL, "params": [1]}, "field 'params' is list"),
        ({**MINIMAL, "input_files": {"image": "nope.jpg"}}, "field 'input_files.image' points to"),
        ({**MINIMAL, "slo": {"hot": {"p95": "1s"}}}, "field 'slo.hot'"),
        ({**MINIMAL, "main": "not an identifier"}, "field 'main'"),
        ({**MINIMAL, "check": {"path": "n", "equal": 1}}, "unknown key(s) 'equal'; allowed: path, equals"),
    ],
)
def test_bad_manifest_names_file_field_and_fix(
    tmp_path: Path, manifest: dict[str, Any], message: str
) -> None:
    folder = write_function(tmp_path, "fn", manifest)
    if manifest.get("name") == "other":
        (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ManifestError) as info:
        load_function(folder)
    assert str(folder / "manifest.json") in str(info.value)
    assert message in str(info.value)


def test_invalid_json_is_reported_with_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "fn"
    folder.mkdir()
    (folder / "manifest.json").write_text('{"name": ')
    with pytest.raises(ManifestError, match=r"fn/manifest.json is not valid JSON"):
        load_function(folder)


def test_sequence_components_must_be_catalogue_functions(tmp_path: Path) -> None:
    write_function(tmp_path, "step", MINIMAL)
    write_function(
        tmp_path, "seq", {"description": "d", "kind": "sequence", "components": ["step", "ghost"]}, files={}
    )
    with pytest.raises(ManifestError, match=r"field 'components' names 'ghost'.*use names of folders"):
        load_catalog(tmp_path)


def test_missing_catalogue_folder(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="does not exist"):
        load_catalog(tmp_path / "nowhere")


# ------------------------------------------------------------------------------------ check language


@pytest.mark.parametrize(
    ("check", "result"),
    [
        ({"equals": {"a": 1}}, {"a": 1}),
        ({"path": "a.b.1", "equals": 3}, {"a": {"b": [2, 3]}}),
        ({"path": "a.-1", "equals": 3}, {"a": [1, 2, 3]}),
        ({"path": ["x.y"], "equals": 1}, {"x.y": 1}),
        ({"keys": ["a", "b"]}, {"a": 1, "b": 2, "c": 3}),
        ({"path": "s", "contains": "ell"}, {"s": "hello"}),
        ({"path": "l", "contains": 2}, {"l": [1, 2]}),
        ({"path": "n", "type": "integer", "min": 1, "max": 10}, {"n": 10}),
        ({"path": "n", "type": "number"}, {"n": 1.5}),
        ({"path": "l", "length": 2}, {"l": [0, 0]}),
        ({"path": "s", "matches": "^h.*o$"}, {"s": "hello"}),
        ({"path": "x", "approx": 0.3, "tolerance": 1e-9}, {"x": 0.1 + 0.2}),
        ({"path": "n", "equals": 2}, {"n": 2.0}),
        ([{"path": "a", "equals": 1}, {"path": "b", "equals": 2}], {"a": 1, "b": 2}),
    ],
)
def test_check_passes(check: Any, result: Any) -> None:
    evaluate_check(compile_check(check), result)


@pytest.mark.parametrize(
    ("check", "result", "message"),
    [
        (
            {"path": "count", "equals": 9592},
            {"count": 9591},
            "result.count equals 9592: got 9591, expected 9592",
        ),
        ({"path": "a.b", "equals": 1}, {"a": {}}, "result.a.b equals 1: the path does not exist"),
        ({"keys": ["html"]}, {"text": ""}, "missing key(s) html"),
        ({"path": "n", "type": "integer"}, {"n": True}, "expected type integer"),
        ({"path": "n", "min": 5}, {"n": 4}, "expected >= 5"),
        ({"path": "n", "max": 5}, {"n": "6"}, "expected a number"),
        ({"path": "s", "contains": "x"}, {"s": "abc"}, 'expected it to contain "x"'),
        ({"path": "s", "matches": "^b"}, {"s": "abc"}, "expected to match /^b/"),
        ({"path": "l", "length": 1}, {"l": []}, "expected length 1"),
        ({"equals": {"ok": True}}, {"ok": 1}, 'expected {"ok": true}'),
    ],
)
def test_check_failure_names_path_value_and_expectation(check: Any, result: Any, message: str) -> None:
    with pytest.raises(CheckFailed) as info:
        evaluate_check(compile_check(check), result, name="fn")
    assert str(info.value).startswith("fn: output check failed")
    assert message in str(info.value)
    assert "result was: " in str(info.value)


def test_every_failing_clause_is_listed() -> None:
    clauses = compile_check([{"path": "a", "equals": 1}, {"path": "b", "equals": 2}])
    with pytest.raises(CheckFailed) as info:
        evaluate_check(clauses, {"a": 0, "b": 0})
    assert "result.a equals 1" in str(info.value)
    assert "result.b equals 2" in str(info.value)


def test_input_reference_compares_with_the_invocation_parameter() -> None:
    clauses = compile_check({"path": "result", "equals": {"$input": "n"}})
    evaluate_check(clauses, {"result": 7}, {"n": 7})
    with pytest.raises(CheckFailed, match="expected 8"):
        evaluate_check(clauses, {"result": 7}, {"n": 8})
    with pytest.raises(CheckFailed, match="input parameter 'n', which the invocation did not pass"):
        evaluate_check(clauses, {"result": 7}, {})


def test_spec_check_defaults_to_the_sample_input() -> None:
    spec = load_catalog()["chain-nested-python"]
    spec.check({"result": 3, "startTimes": [], "invokeTimes": []})  # sample n = 3
    spec.check({"result": 5, "startTimes": [], "invokeTimes": []}, {"n": 5})
    with pytest.raises(CheckFailed):
        spec.check({"result": 5, "startTimes": [], "invokeTimes": []})


@pytest.mark.parametrize(
    ("check", "message"),
    [
        ([], "the check list is empty"),
        ("count", "use an object"),
        ({"path": "n"}, "has no assertion"),
        ({"type": "float"}, "type 'float' is unknown; use one of string, integer"),
        ({"keys": "a"}, "'keys' is 'a'; use a list of strings"),
        ({"min": "1"}, "'min' is '1'; use a number"),
        ({"matches": "("}, "not a valid regular expression"),
        ({"path": 3, "equals": 1}, "'path' is 3; use a dotted string"),
    ],
)
def test_bad_check_is_a_manifest_error(check: Any, message: str) -> None:
    with pytest.raises(ManifestError, match=None) as info:
        compile_check(check, "x/manifest.json: check")
    assert message in str(info.value)


# ------------------------------------------------------------------------------------ zips


def test_zip_bundles_the_installed_package_in_a_virtualenv(tmp_path: Path) -> None:
    spec = load_catalog()["markdown-python"]
    with zipfile.ZipFile(zip_path(spec, tmp_path)) as archive:
        names = archive.namelist()
    site = f"virtualenv/lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages/"
    assert "__main__.py" in names
    assert "manifest.json" not in names
    assert site + "markdown/__init__.py" in names
    assert "virtualenv/bin/activate_this.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_pillow_bundle_honours_excludes_and_keeps_native_libraries(tmp_path: Path) -> None:
    spec = load_catalog()["thumbnail-python"]
    with zipfile.ZipFile(zip_path(spec)) as archive:
        names = archive.namelist()
    assert any(n.endswith("PIL/Image.py") for n in names)
    assert any("PIL/_imaging." in n for n in names)
    assert not any("_avif" in n or "libavif" in n for n in names)


def test_zip_is_deterministic_and_cached_by_content(tmp_path: Path) -> None:
    folder = write_function(
        tmp_path / "cat",
        "z",
        {"description": "d", "kind": "python:3.11", "zip": {"include": ["*.py"]}},
        files={"__main__.py": "def main(a):\n    return a\n", "helper.py": "X = 1\n"},
    )
    spec = load_function(folder)
    assert build_zip(spec) == build_zip(spec)
    first = zip_path(spec, tmp_path / "cache")
    assert zip_path(spec, tmp_path / "cache") == first
    (folder / "helper.py").write_text("X = 22\n")
    assert zip_path(spec, tmp_path / "cache") != first


def test_bundle_of_a_module_that_is_not_installed(tmp_path: Path) -> None:
    folder = write_function(
        tmp_path,
        "z",
        {
            "description": "d",
            "kind": "python:3.11",
            "zip": {"include": ["*.py"], "bundle": ["no_such_module_xyz"]},
        },
        files={"__main__.py": "def main(a):\n    return a\n"},
    )
    with pytest.raises(ManifestError, match=r"zip.bundle names 'no_such_module_xyz', which is not installed"):
        build_zip(load_function(folder))


def test_binary_bundle_for_another_python_version_is_refused(tmp_path: Path) -> None:
    folder = write_function(
        tmp_path,
        "z",
        {"description": "d", "kind": "python:3.9", "zip": {"include": ["*.py"], "bundle": ["PIL"]}},
        files={"__main__.py": "def main(a):\n    return a\n"},
    )
    with pytest.raises(ManifestError, match=r"field 'kind' is 'python:3.9' but the bundled packages"):
        build_zip(load_function(folder))


def test_activate_this_puts_the_bundle_first(tmp_path: Path) -> None:
    spec = load_catalog()["markdown-python"]
    with zipfile.ZipFile(zip_path(spec, tmp_path)) as archive:
        archive.extractall(tmp_path / "x")
    activate = tmp_path / "x" / "virtualenv" / "bin" / "activate_this.py"
    code = (
        f"exec(open({str(activate)!r}).read(), {{'__file__': {str(activate)!r}}}); "
        "import markdown; print(markdown.__file__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().startswith(str(tmp_path / "x" / "virtualenv"))


# ------------------------------------------------------------------------------------ deploy (no server)


class RecordingFactory:
    """Stands in for ow_action: records what deploy() asks for."""

    bundle_packages = None  # like the embedded backend's: packages of this interpreter

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, name: str, source: Any = None, **kw: Any) -> str:
        self.calls.append((name, {"source": source, **kw}))
        return f"action:{name}"

    def sequence(self, name: str, components: list[Any], **kw: Any) -> str:
        self.calls.append((name, {"components": components, **kw}))
        return f"sequence:{name}"


def test_deploy_passes_manifest_defaults_and_overrides(tmp_path: Path) -> None:
    factory: Any = RecordingFactory()
    spec = load_catalog()["chain-nested-python"]
    deploy(factory, spec, memory=128, params={"apihost": "http://h:1"})
    name, kw = factory.calls[0]
    assert name == "chain-nested-python"
    assert kw["source"] == spec.code
    assert kw["kind"] == "python:3.11"
    assert kw["memory"] == 128
    assert kw["timeout"] == 300000
    assert kw["annotations"] == {"provide-api-key": True}
    assert kw["params"] == {"apihost": "http://h:1"}


def test_deploy_sequence_deploys_components_in_order(tmp_path: Path) -> None:
    factory: Any = RecordingFactory()
    result = deploy(factory, load_catalog()["image-pipeline"], params={"db": "/tmp/x.db"})
    assert result == "sequence:image-pipeline"
    assert [c[0] for c in factory.calls] == [
        "image-extract",
        "image-transform",
        "image-thumbnail",
        "image-store",
        "image-pipeline",
    ]
    assert factory.calls[-1][1]["components"] == [
        "action:image-extract",
        "action:image-transform",
        "action:image-thumbnail",
        "action:image-store",
    ]
    assert str(factory.calls[0][1]["source"]).endswith(".zip")


def test_deploy_rejects_unknown_overrides() -> None:
    from pytest_openwhisk.errors import ConfigError

    with pytest.raises(ConfigError, match=r"unknown override\(s\) memroy; allowed: annotations"):
        deploy(cast(Any, RecordingFactory()), load_catalog()["echo-python"], memroy=128)


def test_docs_catalogue_table_is_in_sync_with_the_manifests() -> None:
    from pytest_openwhisk.catalog import markdown_table

    doc = (Path(__file__).resolve().parents[2] / "docs" / "catalogue.md").read_text(encoding="utf-8")
    start = doc.index("-->\n", doc.index("<!-- catalogue-table")) + 4
    embedded = doc[start : doc.index("<!-- end catalogue-table -->")]
    assert embedded == markdown_table(load_catalog()), (
        "docs/catalogue.md is stale: paste markdown_table(load_catalog()) between its catalogue-table markers"
    )


# ------------------------------------------------------------------------------------ chain results


def test_nested_own_time_sums_each_levels_code() -> None:
    from pytest_openwhisk.catalog import nested_own_ms

    # depth 3: level 0 runs 0-1 then waits, level 1 runs 3-4, leaf runs 6-8, returns come back 9 and 12
    result = {"startTimes": [0, 3, 6], "invokeTimes": [1, 4], "retTimes": [8, 9, 12]}
    # leaf 2 + level1 (1 + 1) + level0 (1 + 3) = 8
    assert nested_own_ms(result) == 8.0
    assert nested_own_ms({"startTimes": [5], "invokeTimes": [], "retTimes": [7]}) == 2.0


def test_nested_own_time_rejects_other_results() -> None:
    from pytest_openwhisk.catalog import nested_own_ms

    with pytest.raises(ValueError, match="expected N, N-1 and N"):
        nested_own_ms({"startTimes": [0, 1], "invokeTimes": [], "retTimes": [2, 3]})


def test_chain_overhead_per_step() -> None:
    from pytest_openwhisk.catalog import chain_overhead_per_step_ms

    assert chain_overhead_per_step_ms(120.0, 100.0, 10) == 2.0
    with pytest.raises(ValueError, match="chain length is 0"):
        chain_overhead_per_step_ms(1.0, 1.0, 0)
