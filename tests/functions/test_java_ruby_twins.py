"""Java and Ruby catalogue functions: manifests, the jar built at deploy, kinds a backend lacks.

The base64/json/primes twins in Java and Ruby return exactly what the Python twins return (run directly
here; deployed on the embedded server in ``test_deployed.py`` and the main suite).
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Any, cast

import pytest

from pytest_openwhisk.catalog import (
    FunctionSpec,
    KindUnavailable,
    ManifestError,
    build_jar,
    deploy,
    jar_path,
    load_function,
    offered_kinds,
    require_kind,
)
from pytest_openwhisk.catalog import jars as jars_module
from pytest_openwhisk.errors import ToolMissing

from .direct import run_direct

HAVE_JAVAC = bool(shutil.which("javac") and shutil.which("java") and Path(jars_module.GSON_JAR).is_file())
HAVE_RUBY = bool(shutil.which("ruby"))
needs_java = pytest.mark.skipif(not HAVE_JAVAC, reason="needs default-jdk-headless + libgoogle-gson-java")
needs_ruby = pytest.mark.skipif(not HAVE_RUBY, reason="needs ruby (apt-get install ruby)")
TWINS = ("base64", "json", "primes")
JAVA_CLASS = {"base64": "Base64Bench", "json": "JsonBench", "primes": "Primes"}

HELLO = """import com.google.gson.JsonObject;

public class Hello {
    public static JsonObject main(JsonObject args) {
        JsonObject r = new JsonObject();
        r.addProperty("hi", args.has("name") ? args.get("name").getAsString() : "world");
        return r;
    }
}
"""


def java_function(root: Path, source: str = HELLO, **manifest: Any) -> FunctionSpec:
    """A java:8 catalogue function ``hello`` in ``root`` with ``Hello.java``."""
    folder = root / "hello"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Hello.java").write_text(source)
    raw = {"name": "hello", "description": "d", "kind": "java:8", "code": "Hello.java", **manifest}
    (folder / "manifest.json").write_text(json.dumps(raw))
    return load_function(folder)


class RecordingFactory:
    """Stands in for ow_action: records deploy() calls; ``client.info()`` serves a runtimes manifest."""

    def __init__(self, kinds: tuple[str, ...] | None = None, fail: Exception | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.kinds = kinds
        self.fail = fail
        self.client = self

    def info(self) -> dict[str, Any]:
        """``GET /`` of a backend offering ``kinds``."""
        if self.fail is not None:
            raise self.fail
        runtimes: dict[str, list[dict[str, Any]]] = {}
        for kind in self.kinds or ():
            runtimes.setdefault(kind.split(":")[0], []).append({"kind": kind})
        return {"runtimes": runtimes}

    def __call__(self, name: str, source: Any = None, **kw: Any) -> str:
        self.calls.append((name, {"source": source, **kw}))
        return f"action:{name}"


# ------------------------------------------------------------------------------------ manifests


def test_shipped_java_and_ruby_twins_mirror_the_python_twins(catalog: dict[str, FunctionSpec]) -> None:
    for twin in TWINS:
        python = catalog[f"{twin}-python"]
        for language, kind in (("java", "java:8"), ("ruby", "ruby:2.5")):
            spec = catalog[f"{twin}-{language}"]
            assert (spec.kind, spec.language) == (kind, language)
            assert spec.sample_input() == python.sample_input()
            assert spec.checks == python.checks
            assert spec.description == python.description
            assert set(spec.slo) == {"warm", "cold"}
        assert catalog[f"{twin}-java"].main == JAVA_CLASS[twin]
        assert catalog[f"{twin}-java"].code.name == f"{JAVA_CLASS[twin]}.java"  # type: ignore[union-attr]
        assert catalog[f"{twin}-ruby"].main is None  # the runtime's default: main


def test_java_main_defaults_to_the_class_of_the_file(tmp_path: Path) -> None:
    assert java_function(tmp_path).main == "Hello"
    assert java_function(tmp_path, main="pkg.Hello#grow").main == "pkg.Hello#grow"


@pytest.mark.parametrize("main", ["Hello World", "Hello#", "1Hello", "a..b"])
def test_bad_java_main_names_the_class_form(tmp_path: Path, main: str) -> None:
    with pytest.raises(ManifestError, match=r"field 'main' is .*use the class name, e.g. \"Primes\""):
        java_function(tmp_path, main=main)


# ------------------------------------------------------------------------------------ jars


@needs_java
def test_jar_is_deterministic_with_the_classes_and_a_manifest(tmp_path: Path) -> None:
    spec = java_function(tmp_path)
    first = build_jar(spec)
    assert build_jar(spec) == first
    path = jar_path(spec, tmp_path / "cache")
    assert path.read_bytes() == first
    assert path.name.endswith(".jar.zip")
    assert jar_path(spec, tmp_path / "cache") == path  # cached by content
    with zipfile.ZipFile(path) as jar:
        assert jar.namelist() == ["Hello.class", "META-INF/MANIFEST.MF"]
        assert jar.read("Hello.class")[:4] == b"\xca\xfe\xba\xbe"
        assert {info.date_time for info in jar.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    (spec.code or tmp_path).write_text(HELLO.replace("world", "there"))
    assert jar_path(spec, tmp_path / "cache") != path  # a changed source builds a new jar


@needs_java
def test_java_compile_error_names_the_file_and_javac_message(tmp_path: Path) -> None:
    spec = java_function(tmp_path, source="public class Hello { int x = ; }\n")
    with pytest.raises(ManifestError) as info:
        build_jar(spec)
    message = str(info.value)
    assert "field 'code': javac could not compile" in message
    assert "Hello.java" in message
    assert "fix the Java source" in message


def test_missing_javac_names_the_debian_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = java_function(tmp_path)
    monkeypatch.setattr("pytest_openwhisk.catalog.jars.shutil.which", lambda name: None)
    with pytest.raises(ToolMissing, match=r"javac is not installed.*apt-get install default-jdk-headless"):
        jar_path(spec, tmp_path)
    with pytest.raises(ToolMissing, match="default-jdk-headless"):
        deploy(cast(Any, RecordingFactory()), spec)


def test_missing_gson_names_the_debian_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = java_function(tmp_path)
    monkeypatch.setattr("pytest_openwhisk.catalog.jars.shutil.which", lambda name: f"/usr/bin/{name}")
    missing = str(tmp_path / "no-gson.jar")
    with pytest.raises(ToolMissing, match=r"no-gson.jar does not exist.*apt-get install libgoogle-gson-java"):
        build_jar(spec, gson=missing)


def test_build_jar_refuses_other_kinds(catalog: dict[str, FunctionSpec]) -> None:
    with pytest.raises(
        ManifestError, match=r"primes-ruby is not a java:\* function with a \.java 'code' file"
    ):
        build_jar(catalog["primes-ruby"])


@needs_java
def test_deploy_sends_the_jar_with_the_class_as_main(
    catalog: dict[str, FunctionSpec], tmp_path: Path
) -> None:
    factory: Any = RecordingFactory(kinds=("java:8", "python:3.11"))
    deploy(factory, catalog["primes-java"], cache_dir=tmp_path, memory=256)
    name, kw = factory.calls[0]
    assert name == "primes-java"
    assert (kw["kind"], kw["main"], kw["memory"]) == ("java:8", "Primes", 256)
    source = Path(kw["source"])
    assert source.parent == tmp_path
    with zipfile.ZipFile(source) as jar:
        assert "Primes.class" in jar.namelist()


def test_deploy_ruby_sends_the_source_file(catalog: dict[str, FunctionSpec]) -> None:
    factory: Any = RecordingFactory(kinds=("ruby:2.5",))
    deploy(factory, catalog["json-ruby"])
    assert factory.calls[0][1]["source"] == catalog["json-ruby"].code
    assert factory.calls[0][1]["kind"] == "ruby:2.5"


# ------------------------------------------------------------------------------------ kinds a backend lacks


def test_a_kind_the_backend_lacks_fails_naming_the_kinds_it_has(catalog: dict[str, FunctionSpec]) -> None:
    factory: Any = RecordingFactory(kinds=("python:3.11", "nodejs:20"))
    for name in ("primes-java", "primes-ruby"):
        with pytest.raises(KindUnavailable) as info:
            deploy(factory, catalog[name])
        message = str(info.value)
        assert f"deploy({name!r}): the backend has no runtime kind" in message
        assert "it offers nodejs:20, python:3.11" in message
    for kind, hint in (
        ("java:8", "install default-jdk-headless libgoogle-gson-java"),
        ("ruby:2.5", "install ruby"),
    ):
        with pytest.raises(KindUnavailable, match=f"its toolchain \\(apt-get {hint}\\)"):
            require_kind(factory, kind, "x")
    assert factory.calls == []  # nothing compiled or deployed


def test_family_default_and_unreadable_manifests_pass_the_kind_check() -> None:
    require_kind(RecordingFactory(kinds=("ruby:2.5",)), "ruby:default", "x")
    with pytest.raises(KindUnavailable, match="no runtime kind 'java:default'"):
        require_kind(RecordingFactory(kinds=("ruby:2.5",)), "java:default", "x")
    require_kind(RecordingFactory(fail=OSError("refused")), "java:8", "x")  # the PUT decides
    require_kind(RecordingFactory(kinds=()), "java:8", "x")  # no runtimes listed: likewise
    assert offered_kinds(object()) is None


def test_embedded_server_without_java_and_ruby_refuses_them_at_deploy(
    catalog: dict[str, FunctionSpec],
) -> None:
    from pytest_openwhisk.actions import ActionFactory
    from pytest_openwhisk.client import OpenWhiskClient
    from pytest_openwhisk.local import LocalOpenWhisk
    from pytest_openwhisk.local.config import LocalConfig, PoolConfig

    config = LocalConfig(port=0, kinds=("python:3.11", "nodejs:20"), pool=PoolConfig(prewarm=()))
    with LocalOpenWhisk(config) as server:
        client = OpenWhiskClient(server.apihost, server.auth)
        factory = ActionFactory(client, "cat", Path.cwd())
        for name in ("base64-java", "base64-ruby"):
            with pytest.raises(KindUnavailable, match=r"it offers nodejs:20, python:3\.11;"):
                deploy(factory, catalog[name])
        assert factory.deployed == []
        client.close()


# ------------------------------------------------------------------------------------ identical outputs


@pytest.mark.parametrize(
    ("twin", "params"),
    [
        ("base64", {"text": "héllo ✓ <&>", "repeat": 3, "rounds": 2}),
        ("json", {"items": 777, "rounds": 2}),
        ("primes", {"n": 54321}),
        ("primes", {"n": 2}),
    ],
)
@pytest.mark.parametrize(
    "language", [pytest.param("java", marks=needs_java), pytest.param("ruby", marks=needs_ruby)]
)
def test_java_and_ruby_twins_return_what_python_returns(
    catalog: dict[str, FunctionSpec], direct_dir: Path, twin: str, params: dict[str, Any], language: str
) -> None:
    python = run_direct(catalog[f"{twin}-python"], params, direct_dir)
    assert run_direct(catalog[f"{twin}-{language}"], params, direct_dir) == python


@pytest.mark.parametrize(
    ("twin", "params"),
    [
        ("primes", {"n": -1}),
        ("primes", {"n": "10"}),
        ("base64", {"rounds": 0}),
        ("base64", {"text": 5}),
        ("json", {"items": 1.5}),
        ("json", {"rounds": 5000}),
    ],
)
@pytest.mark.parametrize(
    "language", [pytest.param("java", marks=needs_java), pytest.param("ruby", marks=needs_ruby)]
)
def test_bad_parameters_get_the_node_twins_error(
    catalog: dict[str, FunctionSpec], direct_dir: Path, twin: str, params: dict[str, Any], language: str
) -> None:
    # values are quoted as JSON ("10"), as the Node.js twin does; Python's twin uses repr ('10')
    node = run_direct(catalog[f"{twin}-nodejs"], params, direct_dir)
    result = run_direct(catalog[f"{twin}-{language}"], params, direct_dir)
    assert set(result) == {"error"}
    assert result == node
