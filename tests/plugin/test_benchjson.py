"""pytest-benchmark integration: one entry per measurement, extra_info, fingerprint, compare, no secrets.

Most pytester runs use a scripted client and backend (:data:`CONFTEST`) so the JSON path is checked
quickly and exactly; the ``local`` tests at the end run the same flow against the embedded OpenWhisk.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_openwhisk.measure.compare import ComparedRun, fingerprint_message
from pytest_openwhisk.measure.entries import EntrySource, with_label
from pytest_openwhisk.measure.machine import generate_machine_info
from pytest_openwhisk.measure.scrub import scrub
from pytest_openwhisk.regress.fingerprint import diff
from pytest_openwhisk.samples import SAMPLE_COLUMNS

#: conftest for pytester runs: a scripted client and backend standing in for a cluster. Warm invocations
#: take 2.0-2.4 ms and cold ones 300 ms, times the ``scale`` parameter. The backend's fingerprint
#: deliberately contains the auth key, to prove it is masked before anything is saved.
CONFTEST = """
import time

import pytest

from pytest_openwhisk.client import InvokeResult
from pytest_openwhisk.session import SESSION_KEY

AUTH = "11111111-2222-3333-4444-555555555555:SeCrEtKeYsEcReTkEySeCrEtKeYsEcReTkEy"


class FakeClient:
    def __init__(self):
        self.cold_next = set()
        self.n = 0

    def invoke(self, name, params=None, *, blocking=True, result=False, timeout_ms=None, check=True):
        self.n += 1
        params = params or {}
        cold = name in self.cold_next
        self.cold_next.discard(name)
        latency = (300.0 if cold else 2.0 + (self.n % 5) * 0.1) * params.get("scale", 1)
        now = time.time()
        annotations = [{"key": "waitTime", "value": 1}]
        if cold:
            annotations.append({"key": "initTime", "value": 250})
        status = "application error" if params.get("fail") else "success"
        body = {"activationId": "%032x" % self.n, "start": int(now * 1000), "end": int(now * 1000) + 1,
                "duration": 251 if cold else 1, "annotations": annotations,
                "response": {"status": status, "success": status == "success", "result": {}}}
        return InvokeResult(502 if params.get("fail") else 200, body, body["activationId"], now,
                            now + latency / 1000, latency)

    def wait_activation(self, activation_id, timeout=70.0):
        raise AssertionError("not used")


class FakeBackend:
    name = "fake"
    apihost = "http://fake.invalid"
    auth = AUTH
    namespace = "guest"

    def force_cold(self, client, action):
        client.cold_next.add(action)

    def fingerprint(self):
        return {"backend": "fake", "version": "1.2.3", "leak": "key=" + AUTH.split(":")[1]}

    def monitor(self, start, end, sent=None):
        return {"window_s": round(end - start, 3) >= 0, "sent": sent}

    def open_window(self):
        pass


@pytest.fixture(scope="session")
def ow_cluster(pytestconfig):
    backend = FakeBackend()
    pytestconfig.stash[SESSION_KEY].backend = backend
    yield backend
    pytestconfig.stash[SESSION_KEY].backend = None


@pytest.fixture(scope="session")
def ow_client(ow_cluster):
    return FakeClient()
"""
SECRET_KEY = "SeCrEtKeYsEcReTkEySeCrEtKeYsEcReTkEy"

TEST_FILE = """
import pytest

@pytest.mark.ow_slo(p99="1s", cold_start_max="5s", error_rate="0%")
def test_hello(ow_bench):
    ow_bench.warm("t0-hello", {{"scale": {scale}}}, rounds=12, warmup=2)
    ow_bench.cold("t0-hello", rounds=3)

def test_plain():
    pass
"""


def saved_runs(pytester: pytest.Pytester) -> list[Path]:
    """The JSON files pytest-benchmark saved under .benchmarks, oldest first."""
    return sorted((pytester.path / ".benchmarks").rglob("*.json"))


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester project with the fake cluster and one warm + cold benchmark test."""
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_bench=TEST_FILE.format(scale=1))
    return pytester


def test_autosave_writes_one_entry_per_measurement(project: pytest.Pytester) -> None:
    result = project.runpytest("--benchmark-autosave", "--benchmark-save-data")
    result.assert_outcomes(passed=2)
    assert "not used at all" not in result.stdout.str()
    [path] = saved_runs(project)
    doc = json.loads(path.read_text())
    by_name = {b["name"]: b for b in doc["benchmarks"]}
    assert set(by_name) == {"test_hello[warm]", "test_hello[cold]"}
    warm, cold = by_name["test_hello[warm]"], by_name["test_hello[cold]"]
    assert warm["fullname"] == "test_bench.py::test_hello[warm]"
    assert warm["group"] == "test_hello"
    # stats are per-invocation client latencies in seconds
    assert warm["stats"]["rounds"] == 12
    assert len(warm["stats"]["data"]) == 12
    assert 0.0019 < warm["stats"]["min"] <= warm["stats"]["max"] < 0.0025
    assert cold["stats"]["median"] == pytest.approx(0.3)
    info = warm["extra_info"]
    expected = {"ow_mode", "ow_action", "ow_summary", "ow_samples", "ow_slo", "ow_monitoring"}
    assert set(info) - {"ow_extra"} == expected
    assert (info["ow_mode"], info["ow_action"]) == ("warm", "t0-hello")
    assert info["ow_summary"]["count"] == 12
    assert info["ow_summary"]["cold_ratio"] == 0
    assert tuple(info["ow_samples"]) == SAMPLE_COLUMNS  # latency_ms ... energy_j, cold, error
    assert info["ow_samples"]["cold"] == [0] * 12
    assert info["ow_slo"] == [
        {
            "metric": "p99",
            "target": "1s",
            "observed": pytest.approx(2.4, abs=0.01),
            "samples": 12,
            "ok": True,
        },
        {"metric": "error_rate", "target": "0%", "observed": 0.0, "samples": 12, "ok": True},
    ]
    assert info["ow_monitoring"] == {"window_s": True, "sent": 12}  # the measured invocations
    cold_info = cold["extra_info"]
    assert cold_info["ow_summary"]["cold_ratio"] == 1.0
    assert [v["metric"] for v in cold_info["ow_slo"]] == ["cold_start_max", "error_rate"]
    machine = doc["machine_info"]
    assert machine["node"] == "fake"
    assert machine["ow_fingerprint"] == {"backend": "fake", "version": "1.2.3", "leak": "key=***"}
    assert not {"processor", "machine", "release", "system", "cpu"} & set(machine)
    assert "python_version" in machine


def test_no_auth_key_in_saved_files(project: pytest.Pytester) -> None:
    out = project.path / "out.json"
    result = project.runpytest("--benchmark-autosave", f"--benchmark-json={out}")
    result.assert_outcomes(passed=2)
    for path in [out, *saved_runs(project)]:
        text = path.read_text()
        assert SECRET_KEY not in text
        assert "11111111-2222-3333-4444-555555555555" not in text


def test_compare_cli_reads_two_saved_runs(project: pytest.Pytester) -> None:
    project.runpytest("--benchmark-autosave").assert_outcomes(passed=2)
    project.runpytest("--benchmark-autosave").assert_outcomes(passed=2)
    first, second = saved_runs(project)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_benchmark", "compare", str(first), str(second)],
        cwd=project.path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert sum("test_hello[warm]" in line for line in lines) == 2
    assert sum("test_hello[cold]" in line for line in lines) == 2
    assert any("0001" in line for line in lines)
    assert any("0002" in line for line in lines)


def test_compare_fail_passes_when_unchanged_and_fails_on_regression(
    project: pytest.Pytester, recwarn: pytest.WarningsRecorder
) -> None:
    project.runpytest("--benchmark-autosave").assert_outcomes(passed=2)
    gate = ("--benchmark-compare", "--benchmark-compare-fail=median:1000%")
    same = project.runpytest(*gate)
    same.assert_outcomes(passed=2)
    assert same.ret == pytest.ExitCode.OK
    # same fake cluster: no warning (in-process, pytest-benchmark's configure-time warning lands in recwarn)
    assert not [w for w in recwarn if "machine_info is different" in str(w.message)]
    assert "cluster differs" not in same.stdout.str()
    project.makepyfile(test_bench=TEST_FILE.format(scale=30))  # warm latency x30
    # a subprocess: pytest-benchmark raises PerformanceRegression out of the terminal summary
    slower = project.runpytest_subprocess(*gate)
    assert slower.ret != pytest.ExitCode.OK
    slower.stderr.fnmatch_lines(["*Performance has regressed*", "*test_hello[[]warm[]]*median*"])
    assert "test_hello[cold]" not in slower.stderr.str().split("Performance has regressed")[1]


def test_slo_violation_fails_the_test_and_is_still_saved(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile("""
        import pytest

        @pytest.mark.ow_slo(p99="1ms", error_rate="1%")
        def test_slow(ow_bench):
            ow_bench.warm("hello", rounds=5, warmup=0)
            raise AssertionError("not reached: the SLO failure stops the test")
    """)
    result = pytester.runpytest("--benchmark-autosave")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*SLO violated in test_slo_violation_fails_the_test_and_is_still_saved.py::test_slow [[]warm[]]: "
            "1 of 2 target(s) missed",
            "metric     | target | observed | samples | verdict",
            "p99        | 1ms    |   *ms |       5 | FAIL",
            "error_rate | 1%     |    0.00% |       5 | PASS",
        ]
    )
    assert "not reached" not in result.stdout.str()
    [path] = saved_runs(pytester)
    [entry] = json.loads(path.read_text())["benchmarks"]
    assert entry["extra_info"]["ow_slo"][0]["ok"] is False


def test_metric_without_samples_fails_the_test(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile("""
        import pytest

        @pytest.mark.ow_slo(cold_start_p95="2s", p99="1s")
        def test_warm_only(ow_bench):
            ow_bench.warm("hello", rounds=3, warmup=0)
    """)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_warm_only: no measurement produced samples for these targets: 1 of 1 target(s) missed",
            "*cold_start_p95 | 2s     | no samples |       0 | FAIL",
        ]
    )


def test_benchmark_disable_still_measures_and_applies_slos(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_fail="""
        import pytest

        @pytest.mark.ow_slo(p50="1ms")
        def test_fails(ow_bench):
            ow_bench.warm("hello", rounds=3, warmup=0)
    """
    )
    result = project.runpytest("--benchmark-disable", "--benchmark-autosave")
    result.assert_outcomes(passed=2, failed=1)
    assert saved_runs(project) == []
    result.stdout.fnmatch_lines(["*openwhisk measurements*", "*test_hello*warm*", "*test_fails*FAIL*"])


def test_benchmark_skip_and_only(project: pytest.Pytester) -> None:
    skip = project.runpytest("--benchmark-skip", "-rs")
    skip.assert_outcomes(passed=1, skipped=1)
    only = project.runpytest("--benchmark-only")
    only.assert_outcomes(passed=1, skipped=1)
    only.stdout.fnmatch_lines(["test_hello[[]warm[]] *"])


def test_two_measurements_with_the_same_label_stay_apart(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile("""
        import pytest

        @pytest.mark.parametrize("size", [1, 2])
        def test_twice(ow_bench, size):
            assert ow_bench.warm("hello", rounds=2, warmup=0).name == "warm"
            assert ow_bench.warm("hello", rounds=2, warmup=0).name == "warm-2"
            assert ow_bench.concurrent("hello", clients=2, per_client=2).name == "concurrent-2x2"
    """)
    out = pytester.path / "out.json"
    pytester.runpytest(f"--benchmark-json={out}").assert_outcomes(passed=2)
    names = sorted(b["fullname"] for b in json.loads(out.read_text())["benchmarks"])
    assert names == [
        "test_two_measurements_with_the_same_label_stay_apart.py::test_twice[1-concurrent-2x2]",
        "test_two_measurements_with_the_same_label_stay_apart.py::test_twice[1-warm-2]",
        "test_two_measurements_with_the_same_label_stay_apart.py::test_twice[1-warm]",
        "test_two_measurements_with_the_same_label_stay_apart.py::test_twice[2-concurrent-2x2]",
        "test_two_measurements_with_the_same_label_stay_apart.py::test_twice[2-warm-2]",
        "test_two_measurements_with_the_same_label_stay_apart.py::test_twice[2-warm]",
    ]


# -- unit ------------------------------------------------------------------------------------------------


def test_scrub_masks_nested_values_and_keys() -> None:
    doc: Any = {"a": ["x u:k y", {"u:k": "k"}], "n": 3, "t": ("k",)}
    assert scrub(doc, ["u:k", "k"]) == {"a": ["x *** y", {"***": "***"}], "n": 3, "t": ["***"]}
    assert scrub(doc, []) is doc


def test_labels() -> None:
    assert with_label("test_x", "warm") == "test_x[warm]"
    assert with_label("test_x[a-1]", "cold") == "test_x[a-1-cold]"


def test_entry_stats_are_the_given_latencies() -> None:
    """A Metadata built by pytest-benchmark's own constructor from an EntrySource."""
    from pytest_benchmark.stats import Metadata

    source = EntrySource(
        name="t[warm]",
        fullname="f::t[warm]",
        group="t",
        param=None,
        params=None,
        extra_info={"ow_mode": "warm"},
    )
    entry = Metadata(source, 1, {})  # type: ignore[no-untyped-call]  # pytest-benchmark is untyped
    for value in (0.003, 0.001, 0.002):
        entry.stats.update(value)  # type: ignore[no-untyped-call]
    doc = entry.as_dict()  # type: ignore[no-untyped-call]
    assert doc["stats"]["data"] == [0.003, 0.001, 0.002]
    assert doc["stats"]["median"] == 0.002
    assert doc["stats"]["rounds"] == 3
    assert doc["stats"]["iterations"] == 1
    assert not entry.has_error


# -- against the embedded OpenWhisk (--ow-cluster=local) ---------------------------------------------------


def test_local_autosave_carries_extra_info_and_fingerprint(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        CODE = "def main(args):\\n    return {'ok': True}\\n"

        def test_hello(ow_action, ow_bench, ow_cluster):
            action = ow_action("hello", code=CODE, kind="python:3")
            ow_bench.warm(action, rounds=5, warmup=1)
            ow_bench.cold(action, rounds=2)
            with open("auth.txt", "w") as fh:  # the key of this run, for the grep below
                fh.write(ow_cluster.auth)
    """)
    out = pytester.path / "out.json"
    result = pytester.runpytest(
        "--ow-cluster=local",
        "--benchmark-autosave",
        f"--benchmark-json={out}",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(passed=1)
    [saved] = saved_runs(pytester)
    doc = json.loads(saved.read_text())
    assert [b["name"] for b in doc["benchmarks"]] == ["test_hello[warm]", "test_hello[cold]"]
    warm, cold = doc["benchmarks"]
    assert warm["extra_info"]["ow_mode"] == "warm"
    assert warm["extra_info"]["ow_action"] == "hello"
    assert warm["extra_info"]["ow_summary"]["cold_ratio"] == 0
    assert cold["extra_info"]["ow_summary"]["cold_ratio"] == 1.0
    assert warm["stats"]["rounds"] == 5
    assert cold["stats"]["min"] > 0
    assert doc["machine_info"]["node"] == "local"
    assert doc["machine_info"]["ow_fingerprint"]["backend"] == "local"
    auth = (pytester.path / "auth.txt").read_text()
    key = auth.partition(":")[2]
    assert len(key) > 20
    for path in (saved, out):
        text = path.read_text()
        assert auth not in text
        assert key not in text


def test_generated_machine_info_has_only_python_keys(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfig()
    info = generate_machine_info(config)
    assert set(info) == {
        "node",
        "python_compiler",
        "python_implementation",
        "python_implementation_version",
        "python_version",
        "python_build",
    }


def test_runner_assert_slo_checks_every_measurement(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile("""
        import pytest
        from pytest_openwhisk.errors import SloViolation

        def test_in_code(ow_bench):
            ow_bench.warm("hello", rounds=4, warmup=0)
            ow_bench.cold("hello", rounds=2)
            verdicts = ow_bench.assert_slo(p99="1s", cold_start_max="1s")
            assert [(v.metric, v.ok) for v in verdicts] == [("p99", True), ("cold_start_max", True)]
            with pytest.raises(SloViolation) as info:
                ow_bench.assert_slo(cold_start_max="100ms", init_p50="1s", warm_p50="1s", throughput="1/min")
            text = str(info.value)
            assert text.startswith("SLO violated: 1 of 4 target(s) missed")  # 2 on warm, 2 on cold
            assert "test_in_code [cold]:" in text
            assert "cold_start_max | 100ms  | 300.00ms |       2 | FAIL" in text
    """)
    pytester.runpytest().assert_outcomes(passed=1)


# -- --benchmark-compare: machine_info checked by the cluster fingerprint --------------------------------

LOCAL_BENCH = """
CODE = "def main(args):\\n    return {'ok': True}\\n"

def test_hello(ow_action, ow_bench):
    ow_bench.warm(ow_action("hello", code=CODE, kind="python:3"), rounds=5, warmup=1)
"""
LOCAL_ARGS = ("--ow-cluster=local", "-p", "no:cacheprovider")
HOST_WARNING = "Benchmark machine_info is different"
OUR_WARNING = "Benchmark cluster differs from the compared run"


def output(result: pytest.RunResult) -> str:
    """Everything a run printed (configure-time warnings go to stderr, the warnings summary to stdout)."""
    return result.stdout.str() + "\n" + result.stderr.str()


def compare_run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """A ``--benchmark-compare`` run in a subprocess.

    pytest-benchmark warns while pytest configures; in an in-process run that warning would escape to
    this test instead of the output checked here.
    """
    return pytester.runpytest_subprocess(*LOCAL_ARGS, "--benchmark-compare", *args)


@pytest.fixture
def local_saved(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project with one tiny warm benchmark on the local backend and one autosaved run of it."""
    pytester.makepyfile(test_local=LOCAL_BENCH)
    pytester.runpytest(*LOCAL_ARGS, "--benchmark-autosave").assert_outcomes(passed=1)
    [saved] = saved_runs(pytester)
    pool = json.loads(saved.read_text())["machine_info"]["ow_fingerprint"]["pool"]
    assert "idle_container_timeout_s" in pool  # pool settings are part of the fingerprint
    return pytester


def test_compare_on_the_same_cluster_does_not_warn(local_saved: pytest.Pytester) -> None:
    result = compare_run(local_saved)
    result.assert_outcomes(passed=1)
    text = output(result)
    assert "Comparing against benchmarks from" in text  # the compare really happened
    assert "test_hello[warm] (0001" in text
    assert HOST_WARNING not in text
    assert OUR_WARNING not in text
    assert "warning" not in result.stdout.lines[-1]


def test_compare_with_another_pool_setting_names_the_field(local_saved: pytest.Pytester) -> None:
    result = compare_run(local_saved, "--ow-idle-timeout=15s")
    result.assert_outcomes(passed=1, warnings=1)
    text = output(result)
    assert HOST_WARNING not in text
    assert text.count(OUR_WARNING) == 1
    assert "in 1 field(s)" in text
    result.stdout.fnmatch_lines(
        ["*FingerprintWarning: *", "    ow_fingerprint.pool.idle_container_timeout_s: 600.0 -> 15.0"]
    )


def test_compare_with_a_foreign_run_keeps_pytest_benchmarks_warning(local_saved: pytest.Pytester) -> None:
    [saved] = saved_runs(local_saved)
    doc = json.loads(saved.read_text())
    doc["machine_info"].pop("ow_fingerprint")
    doc["machine_info"]["node"] = "some-laptop"
    saved.write_text(json.dumps(doc))
    result = compare_run(local_saved)
    result.assert_outcomes(passed=1)
    text = output(result)
    assert HOST_WARNING in text
    assert "'some-laptop'" in text or '"some-laptop"' in text
    assert OUR_WARNING not in text
    assert json.loads(saved.read_text()) == doc  # the loaded run is not altered


def test_fingerprint_difference_lines() -> None:
    old = {
        "node": "local",
        "python_version": "3.11.7",
        "ow_fingerprint": {
            "version": "1",
            "pool": {"prewarm": [{"kind": "nodejs:20"}], "memory": 1024},
            "auth_key": "old-secret",
            "gone": 1,
        },
    }
    new = {
        "node": "local",
        "python_version": "3.12.1",
        "ow_fingerprint": {
            "version": "1",
            "pool": {"prewarm": [], "memory": 1024},
            "auth_key": "new-secret",
            "added": "x" * 200,
        },
    }
    paths = [d.key for d in diff(old, new)]
    assert paths == [
        "ow_fingerprint.added",
        "ow_fingerprint.auth_key",
        "ow_fingerprint.gone",
        "ow_fingerprint.pool.prewarm",
        "python_version",
    ]
    assert diff({"a": (1, 2)}, {"a": [1, 2]}) == []
    config = pytest.Config.__new__(pytest.Config)  # only its stash is used
    config.stash = pytest.Stash()
    text = fingerprint_message(config, ComparedRun("run 1", old), new)
    assert text is not None
    lines = text.splitlines()
    assert lines[0] == (
        "Benchmark cluster differs from the compared run (run 1) in 5 field(s), "
        "so timings may not be comparable:"
    )
    assert lines[1].startswith('  ow_fingerprint.added: (absent) -> "xxx')
    assert lines[1].endswith("...")
    assert len(lines[1]) < 130
    assert lines[2:] == [
        "  ow_fingerprint.auth_key: *** -> ***",
        "  ow_fingerprint.gone: 1 -> (absent)",
        '  ow_fingerprint.pool.prewarm: [{"kind": "nodejs:20"}] -> []',
        '  python_version: "3.11.7" -> "3.12.1"',
    ]
    assert "secret" not in text
    assert fingerprint_message(config, ComparedRun("run 1", old), old) is None
