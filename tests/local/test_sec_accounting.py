"""Cost per activation on the embedded backend (issue 14): CPU time, memory, energy attribution."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_openwhisk import energy
from pytest_openwhisk.local import resources
from pytest_openwhisk.local.cgroups import CgroupGroup
from pytest_openwhisk.local.group import Group
from pytest_openwhisk.local.invoker import COST_ANNOTATION, Invoker
from pytest_openwhisk.local.metrics import Metrics
from pytest_openwhisk.local.types import SUCCESS, RunOutcome

from .invoker_helpers import NO_NODE, request, run_with, spec

CGROUPS = resources.probe_mode() != "watchdog"
ENFORCEMENTS = [
    "watchdog",
    pytest.param("cgroup", marks=pytest.mark.skipif(not CGROUPS, reason="no writable cgroups")),
]

BURN_PY = """
import resource
def main(args):
    before = resource.getrusage(resource.RUSAGE_SELF)
    n, x = 0, 0
    while True:
        x += n * n
        n += 1
        if n % 10000 == 0:
            now = resource.getrusage(resource.RUSAGE_SELF)
            if now.ru_utime + now.ru_stime - before.ru_utime - before.ru_stime > args["seconds"]:
                break
    now = resource.getrusage(resource.RUSAGE_SELF)
    return {"cpu_ms": (now.ru_utime + now.ru_stime - before.ru_utime - before.ru_stime) * 1000}
"""

BURN_JS = """
function main(args) {
  const before = process.cpuUsage();
  let x = 0;
  for (;;) {
    for (let i = 0; i < 100000; i++) x += i * i;
    const used = process.cpuUsage(before);
    if ((used.user + used.system) / 1e6 > args.seconds) return {cpu_ms: (used.user + used.system) / 1000, x};
  }
}
"""

CHILD = """
import resource, subprocess, sys
def main(args):
    code = "import time\\nt = time.process_time()\\nwhile time.process_time() - t < 0.3: pass"
    subprocess.run([sys.executable, "-I", "-S", "-c", code], check=True)
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"child_cpu_ms": (used.ru_utime + used.ru_stime) * 1000}
"""


def cost_of(outcome: RunOutcome) -> dict[str, Any]:
    """The ``pytest-openwhisk/cost`` annotation value of an outcome."""
    notes = {a["key"]: a["value"] for a in outcome.annotations}
    return dict(notes[COST_ANNOTATION])


def _run(code: str, params: dict[str, Any], *, kind: str = "python:3.11", **pool: Any) -> list[RunOutcome]:
    async def scenario(invoker: Invoker) -> list[RunOutcome]:
        action = spec(code, "costly", kind=kind, memory_mb=256)
        return [await invoker.run(request(action, params)) for _ in range(2)]  # cold, then warm

    return run_with(scenario, **pool)


@pytest.mark.parametrize("enforcement", ENFORCEMENTS)
def test_cpu_bound_python_action_cpu_ms_matches_what_it_measures(enforcement: str) -> None:
    for outcome in _run(BURN_PY, {"seconds": 0.3}, enforcement=enforcement):
        assert outcome.status_code == SUCCESS, outcome.result
        cost, own = cost_of(outcome), outcome.result["cpu_ms"]
        assert cost["cpu_ms"] == pytest.approx(own, rel=0.10), (cost, own)
        assert cost["attribution"] == "exact"


@NO_NODE
@pytest.mark.parametrize("enforcement", ENFORCEMENTS)
def test_cpu_bound_nodejs_action_cpu_ms_matches_what_it_measures(enforcement: str) -> None:
    for outcome in _run(BURN_JS, {"seconds": 0.3}, kind="nodejs:20", enforcement=enforcement):
        assert outcome.status_code == SUCCESS, outcome.result
        cost, own = cost_of(outcome), outcome.result["cpu_ms"]
        assert cost["cpu_ms"] == pytest.approx(own, rel=0.10), (cost, own)


@pytest.mark.parametrize("enforcement", ENFORCEMENTS)
def test_100mb_allocation_shows_in_the_peak(enforcement: str) -> None:
    code = (
        "import time\ndef main(args):\n    block = bytearray(100 << 20)\n"
        "    for i in range(0, len(block), 4096):\n        block[i] = 1\n"
        "    time.sleep(0.35)\n    return {'n': len(block)}\n"
    )
    for outcome in _run(code, {}, enforcement=enforcement):
        assert outcome.status_code == SUCCESS, outcome.result
        assert cost_of(outcome)["memory_peak_mb"] >= 100


@pytest.mark.parametrize("enforcement", ENFORCEMENTS)
def test_sleeping_action_uses_almost_no_cpu(enforcement: str) -> None:
    code = "import time\ndef main(args):\n    time.sleep(0.3)\n    return {}\n"
    for outcome in _run(code, {}, enforcement=enforcement):
        assert outcome.status_code == SUCCESS, outcome.result
        assert cost_of(outcome)["cpu_ms"] < 15


@pytest.mark.parametrize("enforcement", ENFORCEMENTS)
def test_a_child_process_counts_toward_its_container(enforcement: str) -> None:
    for outcome in _run(CHILD, {}, enforcement=enforcement):
        assert outcome.status_code == SUCCESS, outcome.result
        child = outcome.result["child_cpu_ms"] / (
            2 if outcome.init_ms is None else 1
        )  # RUSAGE_CHILDREN adds up
        assert cost_of(outcome)["cpu_ms"] >= 0.9 * min(child, 300)


def test_accounting_can_be_switched_off() -> None:
    (outcome, _) = _run("def main(args):\n    return {}\n", {}, accounting=False)
    assert COST_ANNOTATION not in {a["key"] for a in outcome.annotations}


def test_cost_reaches_the_pool_stats_and_metrics() -> None:
    async def scenario(invoker: Invoker) -> bytes:
        await invoker.run(request(spec("def main(args):\n    return {}\n", "metered")))
        metrics = Metrics(invoker.stats, lambda: 0)
        return metrics.render()

    text = run_with(scenario).decode()
    assert 'openwhisk_local_action_accounted_activations_total{action="guest/metered"} 1.0' in text
    assert 'openwhisk_local_action_cpu_seconds_total{action="guest/metered"}' in text
    assert "openwhisk_local_energy_available{" in text


# --- energy: RAPL through powercap -------------------------------------------------------------------------


def _powercap(root: Path, packages: dict[str, tuple[int, int]]) -> Path:
    for index, (name, (energy_uj, max_uj)) in enumerate(packages.items()):
        zone = root / f"intel-rapl:{index}"
        zone.mkdir(parents=True)
        (zone / "name").write_text(name + "\n")
        (zone / "energy_uj").write_text(f"{energy_uj}\n")
        (zone / "max_energy_range_uj").write_text(f"{max_uj}\n")
        core = root / f"intel-rapl:{index}:0"  # a sub-zone: part of the package, not counted twice
        core.mkdir()
        (core / "name").write_text("core\n")
        (core / "energy_uj").write_text("5\n")
        (core / "max_energy_range_uj").write_text("100\n")
    return root


def test_energy_unavailable_says_why(tmp_path: Path) -> None:
    missing = energy.availability(tmp_path / "powercap")
    assert missing["available"] is False
    assert "no " in missing["why"]
    assert missing["source"] == "none"
    assert set(missing) == {"source", "available", "why"}
    here = energy.availability()
    assert here["available"] or here["why"]  # this machine: either measured or a reason


def test_fake_powercap_attribution_arithmetic(tmp_path: Path) -> None:
    root = _powercap(
        tmp_path / "powercap", {"package-0": (1_000_000, 10_000_000), "package-1": (9_000_000, 10_000_000)}
    )
    assert energy.availability(root) == {"source": "rapl", "available": True, "why": ""}
    meter = energy.Meter(root)
    assert [z.name for z in meter.zones] == ["package-0", "package-1"]
    before = meter.read()
    (root / "intel-rapl:0" / "energy_uj").write_text("3000000\n")  # +2 J
    (root / "intel-rapl:1" / "energy_uj").write_text("1000000\n")  # wrapped: +2 J
    joules = meter.joules(before, meter.read())
    assert joules == pytest.approx(4.0)
    # an activation that used 0.5 s of the machine's 2 s of busy CPU gets a quarter of the package energy
    assert energy.attribute(joules, 500_000_000, 2_000_000_000) == pytest.approx(1.0)
    assert energy.attribute(joules, 0, 2_000_000_000) == 0.0
    assert energy.attribute(joules, 500_000_000, 0) == pytest.approx(4.0)  # coarse /proc/stat: capped at all


def test_unreadable_counters_say_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _powercap(tmp_path / "powercap", {"package-0": (1, 10)})
    real_read = Path.read_text

    def deny(path: Path, *args: Any, **kwargs: Any) -> str:
        if path.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(path))
        return real_read(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", deny)
    found = energy.availability(root)
    assert found["available"] is False
    assert "not readable" in found["why"]


def test_machine_cpu_ns_reads_proc_stat(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 10 50 1000 5 1 2 3 0 0\ncpu0 1 2 3\n")
    assert energy.machine_cpu_ns(stat) == (100 + 10 + 50 + 1 + 2 + 3) * 1_000_000_000 // energy.CLOCK_TICKS


def _fake_v1_group(tmp_path: Path) -> tuple[CgroupGroup, dict[str, Path]]:
    dirs = {name: tmp_path / name for name in ("memory", "pids", "cpuacct")}
    group = CgroupGroup("t-wsk1", 100 << 20, dirs, 1, 64, marker=f"{resources.TOKEN_ENV}=t-wsk1".encode())
    (dirs["cpuacct"] / "cpuacct.usage").write_text("1000")
    (dirs["memory"] / "memory.usage_in_bytes").write_text(str(10 << 20))
    (dirs["memory"] / "memory.max_usage_in_bytes").write_text(str(10 << 20))
    (dirs["memory"] / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
    return group, dirs


def test_a_window_starts_from_the_previous_windows_end_reading(tmp_path: Path) -> None:
    """One CPU read per warm activation: the reading that ended a window starts the next one."""
    group, dirs = _fake_v1_group(tmp_path)
    usage = dirs["cpuacct"] / "cpuacct.usage"
    assert group.start_window() == 1000  # nothing read yet: read now
    usage.write_text("5000")
    assert group.cpu_ns() == 5000  # the window's end
    usage.write_text("7000")  # what the idle container used since counts toward the next window
    assert group.start_window() == 5000
    assert group.cpu_ns() == 7000
    group.remove()


def test_the_peak_is_reset_only_when_it_moved_and_a_low_peak_needs_no_oom_read(tmp_path: Path) -> None:
    group, dirs = _fake_v1_group(tmp_path)
    peak_file = dirs["memory"] / "memory.max_usage_in_bytes"
    group.start_window()  # first window: reset
    assert peak_file.read_text().startswith("0")
    peak_file.write_text(str(10 << 20))
    assert group.memory() == (10 << 20, 10 << 20)  # peak at the current usage
    assert not group.oom_killed()  # 10 MB of 100 MB: no OOM kill possible, the oom_kill 1 is not read
    group.start_window()
    assert peak_file.read_text() == str(10 << 20)  # nothing to reset: no write
    peak_file.write_text(str(95 << 20))  # a transient peak near the limit
    assert group.memory() == (10 << 20, 95 << 20)
    assert group.oom_killed()  # near the limit: the kernel's count is read
    group.start_window()
    assert peak_file.read_text().startswith("0")  # the peak moved: reset
    assert group.oom_killed()  # not right after memory(): always read
    group.remove()


def test_watchdog_window_reuses_the_end_reading_of_the_same_processes(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        group = Group("t-wsk2", 256 << 20, marker=f"{resources.TOKEN_ENV}=t-wsk2".encode())
        group.attach(child.pid)
        first = group.start_window()  # files opened: read now
        end = group.cpu_ns()
        assert end >= first > 0
        assert group.start_window() == end  # same processes, files kept: the end reading is reused
        group.remove()
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(10)
