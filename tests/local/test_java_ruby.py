"""The ``java:8`` and ``ruby:2.5`` kinds on the real embedded runtime (actionloop-style proxy + launcher).

Same /init + /run protocol, sentinels, env and warm reuse as the Python and Node.js runtimes; an exception
is a developer error (502, the container is replaced), as OpenWhisk's java8action and ruby:2.5 runtimes
answer it; the base64/json/primes twins in Java and Ruby return exactly what the Python twins return.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from pytest_openwhisk.local import LocalOpenWhisk, manifest
from pytest_openwhisk.local.config import LocalConfig, PoolConfig, StemCell
from pytest_openwhisk.wait import wait_until

from .conftest import Api, notes_of

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
needs_java = pytest.mark.skipif(
    not manifest.JAVA_KINDS, reason="needs default-jdk-headless + libgoogle-gson-java"
)
needs_ruby = pytest.mark.skipif(not manifest.RUBY_KINDS, reason="needs ruby (apt-get install ruby)")

RUBY = """
def main(args)
  puts "hello #{args['name']}"
  warn 'to stderr'
  raise ArgumentError, 'no name' if args['name'].nil?
  return 'not a hash' if args['name'] == 'str'
  { 'greeting' => "hi #{args['name']}", 'ns' => ENV['__OW_NAMESPACE'], 'action' => ENV['__OW_ACTION_NAME'],
    'token' => ENV['TOKEN'] }
end
"""
JAVA = """
import com.google.gson.JsonObject;

public class Hello {
    public static JsonObject main(JsonObject args) {
        System.out.println("hello " + args.get("name"));
        if (!args.has("name")) throw new IllegalArgumentException("no name");
        JsonObject r = new JsonObject();
        r.addProperty("greeting", "hi " + args.get("name").getAsString());
        r.addProperty("ns", System.getenv("__OW_NAMESPACE"));
        r.addProperty("action", System.getenv("__OW_ACTION_NAME"));
        r.addProperty("token", System.getenv("TOKEN"));
        return r;
    }

    public static com.google.gson.JsonArray main(com.google.gson.JsonArray args) {
        com.google.gson.JsonArray r = new com.google.gson.JsonArray();
        r.add(args.size());
        return r;
    }

    public static JsonObject nothing(JsonObject args) {
        return null;
    }

    public static JsonObject grow(JsonObject args) {
        java.util.List<long[]> hog = new java.util.ArrayList<>();
        while (true) hog.add(new long[1 << 20]);
    }
}
"""


def build_jar(sources: dict[str, str], tmp: Path) -> str:
    """Compile Java sources against Gson and return the jar, base64 (what OpenWhisk's java:8 takes)."""
    src, out = tmp / "src", tmp / "classes"
    src.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in sources.items():
        (src / name).write_text(text)
        paths.append(str(src / name))
    javac = shutil.which("javac") or "javac"
    subprocess.run(
        [javac, "-nowarn", "-cp", manifest.GSON_JAR, "-d", str(out), *paths], check=True, timeout=120
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as jar:
        jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
        for path in sorted(out.rglob("*.class")):
            jar.write(path, str(path.relative_to(out)))
    return base64.b64encode(buffer.getvalue()).decode()


def _put(api: Api, name: str, kind: str, code: str, main: str | None = None, **body: Any) -> dict[str, Any]:
    exec_: dict[str, Any] = {"kind": kind, "code": code}
    if main is not None:
        exec_["main"] = main
    response = api.request(
        "PUT", f"/actions/{name}", params={"overwrite": "true"}, json={"exec": exec_, **body}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def _sequence(api: Api, name: str, components: list[str]) -> None:
    body = {"exec": {"kind": "sequence", "components": components}}
    response = api.request("PUT", f"/actions/{name}", params={"overwrite": "true"}, json=body)
    assert response.status_code == 200, response.text


def _logs(api: Api, activation_id: str) -> list[str]:
    return [line.split(": ", 1)[1] for line in api.activation(activation_id, "/logs").json()["logs"]]


def _check_action(api: Api, name: str, *, stderr_line: str | None) -> str:
    cold = api.invoke(name, {"name": "ada"})
    assert cold.status_code == 200, cold.text
    record = cold.json()
    result = record["response"]["result"]
    assert result["greeting"] == "hi ada"
    assert (result["ns"], result["action"], result["token"]) == ("guest", f"/guest/{name}", "from-init")
    assert "initTime" in notes_of(record)
    logs = _logs(api, record["activationId"])
    assert logs[0].startswith("hello ")
    assert all("XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX" not in line for line in logs)
    if stderr_line is not None:
        assert stderr_line in logs
    warm = api.invoke(name, {"name": "bob"}).json()
    assert warm["response"]["result"]["greeting"] == "hi bob"
    assert "initTime" not in notes_of(warm)  # the same launcher served it
    failed = api.invoke(name, {})
    assert failed.status_code == 502
    response = failed.json()["response"]
    assert response["status"] == "action developer error"  # an exception, as OpenWhisk's runtime answers it
    assert any("no name" in line for line in _logs(api, failed.json()["activationId"]))  # the stack trace
    after = api.invoke(name, {"name": "eve"}).json()
    assert "initTime" in notes_of(after)  # a developer error replaces the container
    return str(response["result"]["error"])


INIT = [{"key": "TOKEN", "value": "from-init", "init": True}]


@needs_ruby
def test_ruby_cold_warm_env_logs_errors(real_api: Api) -> None:
    _put(real_api, "rb-hello", "ruby:2.5", RUBY, parameters=INIT)
    error = _check_action(real_api, "rb-hello", stderr_line="to stderr")
    assert error == "Invalid Action: An error occurred running the action"  # ruby:2.5's message
    not_hash = real_api.invoke("rb-hello", {"name": "str"})
    assert not_hash.status_code == 502
    response = not_hash.json()["response"]
    assert response["status"] == "action developer error"
    assert response["result"] == {"error": "The action did not return a dictionary or array."}


@needs_java
def test_java_jar_cold_warm_env_logs_errors(real_api: Api, tmp_path: Path) -> None:
    jar = build_jar({"Hello.java": JAVA}, tmp_path)
    created = _put(real_api, "jv-hello", "java:8", jar, main="Hello", parameters=INIT)
    assert created["exec"]["binary"] is True
    error = _check_action(real_api, "jv-hello", stderr_line=None)
    assert error == (
        "An error has occurred while invoking the action (see logs for details): "
        "java.lang.IllegalArgumentException: no name"
    )
    # an array input (a sequence passes a component's array result on) calls main(JsonArray), as java8action
    _put(real_api, "py-list", "python:3.11", "def main(a):\n    return [1, 2, 3]\n")
    _sequence(real_api, "jv-list", ["/_/py-list", "/_/jv-hello"])
    listed = real_api.invoke("jv-list", {})
    assert (listed.status_code, listed.json()) == (200, [3]), listed.text  # an array result is the body
    _put(real_api, "jv-null", "java:8", jar, main="Hello#nothing")
    _sequence(real_api, "jv-null-list", ["/_/py-list", "/_/jv-null"])
    no_array_main = real_api.invoke("jv-null-list", {})
    assert no_array_main.json()["response"]["result"] == {
        "error": "An error has occurred (see logs for details): "
        "java.lang.NoSuchMethodException: Hello.nothing(com.google.gson.JsonArray)"
    }
    null = real_api.invoke("jv-null", {})
    assert null.status_code == 502
    assert null.json()["response"]["status"] == "action developer error"
    assert null.json()["response"]["result"] == {
        "error": "An error has occurred (see logs for details): "
        "java.lang.NullPointerException: The action returned null"
    }


@needs_java
def test_java_requires_main_and_reports_a_missing_class(real_api: Api, tmp_path: Path) -> None:
    no_main = real_api.request("PUT", "/actions/jv-x", json={"exec": {"kind": "java:8", "code": "x"}})
    assert no_main.status_code == 400
    assert no_main.json()["error"].endswith("'main' must be a string defined in 'exec' for 'java:8' actions")
    jar = build_jar({"Hello.java": JAVA}, tmp_path)
    _put(real_api, "jv-missing", "java:8", jar, main="Nope")
    response = real_api.invoke("jv-missing", {"name": "x"})
    assert response.status_code == 502
    assert response.json()["response"]["status"] == "action developer error"


@needs_java
def test_java_heap_exhaustion_is_an_oom(real_api: Api, tmp_path: Path) -> None:
    jar = build_jar({"Hello.java": JAVA}, tmp_path)
    _put(real_api, "jv-grow", "java:8", jar, main="Hello#grow", limits={"memory": 128})
    response = real_api.invoke("jv-grow", {})
    assert response.status_code == 502
    assert response.json()["response"]["result"] == {
        "error": "The action exhausted its memory and was aborted."
    }


def test_blackbox_points_to_a_real_cluster(real_api: Api) -> None:
    response = real_api.request("PUT", "/actions/bb", json={"exec": {"kind": "blackbox", "image": "me/img"}})
    assert response.status_code == 400
    message = response.json()["error"]
    assert "'me/img'" in message
    assert "--ow-cluster=kind or --ow-cluster=existing" in message


@needs_java
@needs_ruby
def test_manifest_lists_java_and_ruby(real_server: LocalOpenWhisk) -> None:
    api = Api(real_server.apihost, real_server.auth)
    runtimes = api.get(real_server.apihost + "/").json()["runtimes"]
    assert [(e["kind"], e["default"], e["requireMain"]) for e in runtimes["java"]] == [("java:8", True, True)]
    assert [(e["kind"], e["default"]) for e in runtimes["ruby"]] == [("ruby:2.5", True)]
    api.close()


@needs_java
@needs_ruby
def test_stem_cells_hold_a_booted_runtime(tmp_path: Path) -> None:
    cells = (StemCell("ruby:2.5", 1, 256), StemCell("java:8", 1, 256))
    with LocalOpenWhisk(LocalConfig.benchmark(pool=PoolConfig(prewarm=cells))) as ow:
        api = Api(ow.apihost, ow.auth)
        wait_until(lambda: ow.pool_stats()["containers"]["prewarm"] == 2, what="stem cells", timeout=60)
        _put(api, "rb-stem", "ruby:2.5", "def main(a)\n  { 'ok' => ENV['TOKEN'] }\nend\n", parameters=INIT)
        assert api.invoke("rb-stem", {}, result=True).json() == {"ok": "from-init"}
        _put(
            api, "jv-stem", "java:8", build_jar({"Hello.java": JAVA}, tmp_path), main="Hello", parameters=INIT
        )
        assert api.invoke("jv-stem", {"name": "x"}, result=True).json()["token"] == "from-init"
        wait_until(  # both used, both replaced
            lambda: ow.pool_stats()["containers"]["prewarm"] == 2, what="replaced stem cells", timeout=60
        )
        api.close()


TWINS = [
    ("base64", "b64", "Base64Bench"),
    ("json", "jsonbench", "JsonBench"),
    ("primes", "primes", "Primes"),
]


@pytest.mark.parametrize(("twin", "stem", "cls"), TWINS)
def test_java_and_ruby_twins_match_python(
    real_api: Api, tmp_path: Path, twin: str, stem: str, cls: str
) -> None:
    spec = json.loads((FUNCTIONS / f"{twin}-python" / "manifest.json").read_text())
    params = spec["input"]
    python_code = (FUNCTIONS / f"{twin}-python" / spec["code"]).read_text()
    _put(real_api, f"tw-{twin}-py", "python:3.11", python_code)
    expected = real_api.invoke(f"tw-{twin}-py", params, result=True).json()
    if manifest.RUBY_KINDS:
        _put(real_api, f"tw-{twin}-rb", "ruby:2.5", (FUNCTIONS / f"{twin}-ruby" / f"{stem}.rb").read_text())
        assert real_api.invoke(f"tw-{twin}-rb", params, result=True).json() == expected
    if manifest.JAVA_KINDS:
        jar = build_jar({f"{cls}.java": (FUNCTIONS / f"{twin}-java" / f"{cls}.java").read_text()}, tmp_path)
        _put(real_api, f"tw-{twin}-java", "java:8", jar, main=cls)
        assert real_api.invoke(f"tw-{twin}-java", params, result=True).json() == expected


@needs_ruby
def test_ruby_time_limit_kills_the_runtime(real_api: Api) -> None:
    _put(real_api, "rb-slow", "ruby:2.5", "def main(a)\n  sleep 30\n  {}\nend\n", limits={"timeout": 300})
    response = real_api.invoke("rb-slow", {})
    assert response.status_code == 502
    record = response.json()
    assert record["response"]["result"] == {
        "error": "The action exceeded its time limits of 300 milliseconds."
    }
    assert notes_of(record)["timeout"] is True
    _put(real_api, "rb-slow", "ruby:2.5", "def main(a)\n  { 'fast' => true }\nend\n", limits={"timeout": 300})
    assert real_api.invoke("rb-slow", {}, result=True).json() == {"fast": True}  # a fresh container serves it
