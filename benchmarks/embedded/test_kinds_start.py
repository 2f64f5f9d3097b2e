"""Cold and warm start of every runtime kind of the embedded OpenWhisk: Java and Ruby next to Python and Node.

Run: ``python -m pytest benchmarks/embedded/test_kinds_start.py --benchmark-only -p no:cacheprovider``.
The server runs in a child process (``LocalOpenWhiskProcess``, benchmark preset, isolation as configured,
no stem cells); the client is ``requests`` in the pytest process. Per kind, a trivial action returning
``{"ok": true}`` (Java: a jar with ``main`` = the class, as OpenWhisk's java:8 takes it):

* ``cold``: 8 blocking invokes, each after evicting the action's containers (process start + ``/init``),
  client latency and the record's ``initTime``;
* ``prewarm``: 8 blocking invokes, each after evicting the action's containers once a stem cell of the
  kind is ready (a second server with one stem cell per kind): ``/init`` on an already booted runtime;
* ``warm``: 200 blocking invokes after 20 warm-ups.

Figures: median and interquartile range, and the ratio of each median to ``python:3.11``'s measured in
the same run (the baseline), printed at the end and stored in each entry's ``extra_info``.

With ``--benchmark-disable`` each case runs its start once (cold and prewarm: after the eviction, and the
record must show an ``initTime``) and checks it succeeded with the action's result; no figures then.
"""

from __future__ import annotations

import base64
import io
import shutil
import statistics
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from pytest_openwhisk.local import manifest
from pytest_openwhisk.local.config import LocalConfig, PoolConfig, StemCell
from pytest_openwhisk.local.process import LocalOpenWhiskProcess
from pytest_openwhisk.wait import wait_until

COLD_ROUNDS, WARM_ROUNDS, WARMUP = 8, 200, 20
STEM_BOOT_S = 1.5
BASELINE = "python:3.11"
JAVA = """
import com.google.gson.JsonObject;
public class Ok {
    public static JsonObject main(JsonObject args) {
        JsonObject r = new JsonObject();
        r.addProperty("ok", true);
        return r;
    }
}
"""
CODE = {
    "python:3.11": ("def main(args):\n    return {'ok': True}\n", None),
    "nodejs:20": ("function main(args) { return {ok: true}; }", None),
    "ruby:2.5": ("def main(args)\n  { 'ok' => true }\nend\n", None),
}
KINDS = ["python:3.11", "nodejs:20", "java:8", "ruby:2.5"]
RESULTS: dict[tuple[str, str], dict[str, float]] = {}


def java_jar() -> str:
    """The base64 jar of the ``Ok`` class (compiled against Gson)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "Ok.java"
        src.write_text(JAVA)
        javac = shutil.which("javac") or "javac"
        subprocess.run([javac, "-nowarn", "-cp", manifest.GSON_JAR, "-d", tmp, str(src)], check=True)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as jar:
            jar.write(Path(tmp) / "Ok.class", "Ok.class")
    return base64.b64encode(buffer.getvalue()).decode()


def available(kind: str) -> bool:
    """Whether the host can run ``kind``."""
    if kind == "nodejs:20":
        return shutil.which("node") is not None
    return kind in manifest.KINDS


@pytest.fixture(scope="module")
def server() -> Iterator[LocalOpenWhiskProcess]:
    """The embedded OpenWhisk in a child process, benchmark throttles, no stem cells."""
    with LocalOpenWhiskProcess(LocalConfig.benchmark(pool=PoolConfig(prewarm=()))) as ow:
        yield ow


@pytest.fixture(scope="module")
def stem_server() -> Iterator[LocalOpenWhiskProcess]:
    """A second server with one 256 MB stem cell of every available kind."""
    cells = tuple(StemCell(kind, 1, 256) for kind in KINDS if available(kind))
    with LocalOpenWhiskProcess(LocalConfig.benchmark(pool=PoolConfig(prewarm=cells))) as ow:
        yield ow


def deploy(session: requests.Session, apihost: str, kind: str) -> str:
    """Create the trivial action of ``kind`` and return its name."""
    name = "start-" + kind.replace(":", "").replace(".", "")
    if kind == "java:8":
        exec_ = {"kind": kind, "code": java_jar(), "main": "Ok"}
    else:
        exec_ = {"kind": kind, "code": CODE[kind][0]}
    url = f"{apihost}/api/v1/namespaces/_/actions/{name}?overwrite=true"
    response = session.put(url, json={"exec": exec_, "limits": {"memory": 256}}, timeout=60)
    assert response.status_code == 200, response.text
    return name


def summary(values: list[float]) -> dict[str, float]:
    """Median and interquartile range (ms)."""
    q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return {"median_ms": statistics.median(values), "iqr_ms": q[2] - q[0], "n": float(len(values))}


@pytest.mark.parametrize("mode", ["cold", "prewarm", "warm"])
@pytest.mark.parametrize("kind", KINDS)
def test_start(
    benchmark: Any,
    request: pytest.FixtureRequest,
    kind: str,
    mode: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Cold (evicted before each call), prewarmed or warm blocking invokes of a trivial action of ``kind``."""
    if not available(kind):
        pytest.skip(f"{kind} is not available here (bash .ci/setup installs its toolchain)")
    server: LocalOpenWhiskProcess = request.getfixturevalue("stem_server" if mode == "prewarm" else "server")
    cells = sum(1 for k in KINDS if available(k))
    session = requests.Session()
    request.addfinalizer(session.close)
    user, _, key = server.auth.partition(":")
    session.auth = (user, key)
    name = deploy(session, server.apihost, kind)
    url = f"{server.apihost}/api/v1/namespaces/_/actions/{name}?blocking=true"
    init_ms: list[float] = []

    def once() -> None:
        response = session.post(url, json={}, timeout=120)
        assert response.status_code == 200, response.text[:300]
        record = response.json()
        assert record["response"]["result"] == {"ok": True}, record["response"]
        notes = {a["key"]: a["value"] for a in record["annotations"]}
        if mode != "warm":
            assert "initTime" in notes, "expected a cold start"
            init_ms.append(float(notes["initTime"]))

    benchmark.group = f"kind-start-{mode}"

    def evict() -> None:
        server.evict(f"guest/{name}")
        if mode == "prewarm":  # the next invoke must find a booted stem cell of its kind
            wait_until(
                lambda: server.pool_stats()["containers"]["prewarm"] >= cells, what="stem cells", timeout=60
            )
            # a replaced stem cell counts once spawned; its runtime boots in the next few hundred ms and the
            # pool does not tell when: give it STEM_BOOT_S (outside the measured call)
            time.sleep(STEM_BOOT_S)

    if mode != "warm":
        benchmark.pedantic(once, setup=evict, rounds=COLD_ROUNDS, warmup_rounds=0, iterations=1)
    else:
        benchmark.pedantic(once, rounds=WARM_ROUNDS, warmup_rounds=WARMUP, iterations=1)
    if benchmark.disabled:  # --benchmark-disable: pedantic ran ``once`` a single time and kept no timings
        assert init_ms or mode == "warm", "the start was not measured"
        return
    figures = summary([s * 1000 for s in benchmark.stats.stats.data])
    if init_ms:
        figures["init_median_ms"] = statistics.median(init_ms)
    RESULTS[(kind, mode)] = figures
    base = RESULTS.get((BASELINE, mode))
    if base is not None:
        figures["ratio_to_python"] = figures["median_ms"] / base["median_ms"]
    benchmark.extra_info.update({"kind": kind, "mode": mode, "baseline": BASELINE, **figures})
    if set(RESULTS) == {(k, m) for k in KINDS if available(k) for m in ("cold", "prewarm", "warm")}:
        with capsys.disabled():
            print("\n" + "\n".join(table()))


def table() -> list[str]:
    """The figures as lines: median, IQR, median initTime and ratio to python:3.11 of the same run."""
    lines = ["kind         mode  median ms   IQR ms  init ms  x python:3.11"]
    modes = ("cold", "prewarm", "warm")
    for (kind, mode), f in sorted(
        RESULTS.items(), key=lambda i: (modes.index(i[0][1]), KINDS.index(i[0][0]))
    ):
        init = f"{f['init_median_ms']:7.0f}" if "init_median_ms" in f else "      -"
        ratio = f"{f['ratio_to_python']:.2f}" if "ratio_to_python" in f else "1.00"
        lines.append(f"{kind:<12} {mode:<4} {f['median_ms']:10.2f} {f['iqr_ms']:8.2f}  {init}  {ratio}")
    return lines
