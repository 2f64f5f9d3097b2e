"""Runtime CPU weight (``spawner.py``) and a cold-start storm against the real invoker.

Timing belongs to ``benchmarks/embedded/test_storm.py``; these tests check placement and semantics: runtimes
land in the runtimes' cpu group (or a lowered autogroup), the controller answers while containers start,
and every accepted invocation of a storm ends with a record.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pytest_openwhisk.local import __main__ as serve_main
from pytest_openwhisk.local import spawner
from pytest_openwhisk.local.config import LocalConfig, PoolConfig
from pytest_openwhisk.local.process import LocalOpenWhiskProcess
from pytest_openwhisk.local.server import LocalOpenWhisk
from pytest_openwhisk.wait import wait_until
from pytest_openwhisk.workload.priority import autogroup_nice
from pytest_openwhisk.workload.sendconfig import SenderConfig
from pytest_openwhisk.workload.sender import OpenLoopSender
from pytest_openwhisk.workload.spec import Instance, Workload, WorkloadError
from tests.local.conftest import Api

NOOP = "def main(args):\n    return {}\n"


IN_AUTOGROUP = autogroup_nice() is not None  # None: no or an empty /proc/self/autogroup (CI containers)
needs_autogroup = pytest.mark.skipif(
    not IN_AUTOGROUP,
    reason="this process is in no autogroup (empty or no "
    "/proc/self/autogroup: autogroups off when its session began)",
)


@pytest.fixture
def fresh_group() -> Iterator[None]:
    """Forget the process-wide runtime group around a test that points it elsewhere."""
    saved = spawner._group, spawner._tried, spawner._boot, spawner._controller
    spawner._group, spawner._tried, spawner._boot, spawner._controller = None, False, None, None
    yield
    spawner._group, spawner._tried, spawner._boot, spawner._controller = saved


def test_runtime_group_created_with_shares_per_cpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_group: None
) -> None:
    (tmp_path / "cpu.shares").write_text("1024")
    (tmp_path / f"{spawner.PREFIX}999999999").mkdir()  # a dead server's empty group
    monkeypatch.setattr(spawner, "_own_cpu_cgroup", lambda: "/")
    group = spawner.runtime_group(root=tmp_path, cpus=3)
    assert group == tmp_path / f"{spawner.PREFIX}{os.getpid()}"
    assert (group / "cpu.shares").read_text() == str(3 * spawner.SHARES_PER_CPU)
    assert not (tmp_path / f"{spawner.PREFIX}999999999").exists()
    assert spawner.runtime_group(root=tmp_path / "elsewhere") == group  # created once per process


def test_no_cpu_hierarchy_means_no_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_group: None
) -> None:
    monkeypatch.setattr(spawner, "_own_cpu_cgroup", lambda: "/")
    assert spawner.runtime_group(root=tmp_path) is None  # no cpu.shares: not a cpu hierarchy


def test_entry_command_moves_the_runtime_into_its_groups_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_group: None
) -> None:
    (tmp_path / "cpu.shares").write_text("1024")
    monkeypatch.setattr(spawner, "_own_cpu_cgroup", lambda: "/")
    group = spawner.runtime_group(root=tmp_path)
    boot = spawner.boot_group()
    assert group is not None
    assert boot is not None
    cpu, memory, pids = boot / "cgroup.procs", tmp_path / "memory.procs", tmp_path / "pids.procs"
    for procs in (cpu, memory, pids):
        procs.write_text("")
    work = tmp_path / "work"
    work.mkdir()
    argv = spawner.entry_command(["sh", "-c", "echo $$ $PWD"], str(work), [str(memory), str(pids)])
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split()
    assert out == [cpu.read_text().strip(), str(work)]  # the pid that then ran the command, in its work dir
    assert memory.read_text().strip() == pids.read_text().strip() == out[0]
    assert spawner.deprioritize(12345) == "cgroup"  # nothing left to do for that pid


def test_runtimes_boot_in_a_low_weight_group_and_move_after_init(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_group: None
) -> None:
    (tmp_path / "cpu.shares").write_text("1024")
    (tmp_path / f"{spawner.BOOT_PREFIX}999999999").mkdir()  # a dead server's empty boot group
    monkeypatch.setattr(spawner, "_own_cpu_cgroup", lambda: "/")
    group = spawner.runtime_group(root=tmp_path, cpus=2)
    boot = spawner.boot_group()
    assert group is not None
    assert boot == tmp_path / f"{spawner.BOOT_PREFIX}{os.getpid()}"
    assert (boot / "cpu.shares").read_text() == str(spawner.BOOT_SHARES)
    assert not (tmp_path / f"{spawner.BOOT_PREFIX}999999999").exists()
    argv = spawner.entry_command(["true"], str(tmp_path), [])
    assert argv[argv.index(str(tmp_path)) + 1] == str(boot / "cgroup.procs")  # it boots in the boot group
    assert spawner.promote([41, 42]) == 2  # then the invoker moves it (every process) to the runtimes' group
    assert (group / "cgroup.procs").read_text() == "42"  # a plain file here: the last write
    (group / "cgroup.procs").unlink()
    (group / "cgroup.procs").mkdir()  # a group that cannot be written: skipped, never raised
    assert spawner.promote([43]) == 0


def test_promote_without_a_boot_group_does_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_group: None
) -> None:
    monkeypatch.setattr(spawner, "_own_cpu_cgroup", lambda: "/")
    assert spawner.runtime_group(root=tmp_path) is None
    assert spawner.boot_group() is None
    assert spawner.promote([os.getpid()]) == 0


def test_controller_moves_into_a_heavier_sibling_of_the_runtimes_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_group: None
) -> None:
    (tmp_path / "cpu.shares").write_text("1024")
    (tmp_path / f"{spawner.CONTROLLER_PREFIX}999999999").mkdir()  # a dead server's group
    monkeypatch.setattr(spawner, "_own_cpu_cgroup", lambda: "/")
    note = spawner.raise_controller(root=tmp_path, cpus=3)
    controller = tmp_path / f"{spawner.CONTROLLER_PREFIX}{os.getpid()}"
    shares = 3 * spawner.CONTROLLER_SHARES_PER_CPU
    assert note == f"cpu group {controller.name} (cpu.shares {shares})"
    assert (controller / "cpu.shares").read_text() == str(shares)
    assert shares > 3 * spawner.SHARES_PER_CPU  # more than all runtimes together
    assert (controller / "cgroup.procs").read_text() == str(os.getpid())  # the whole process moved
    assert spawner.runtime_group() == tmp_path / f"{spawner.PREFIX}{os.getpid()}"  # siblings, not children
    assert spawner.boot_group() == tmp_path / f"{spawner.BOOT_PREFIX}{os.getpid()}"
    assert not (tmp_path / f"{spawner.CONTROLLER_PREFIX}999999999").exists()
    (tmp_path / "cgroup.procs").write_text("")
    spawner.remove()  # at exit: back to the parent group before the group is removed
    assert (tmp_path / "cgroup.procs").read_text() == str(os.getpid())


def test_controller_without_a_cpu_hierarchy_stays_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_group: None
) -> None:
    monkeypatch.setattr(spawner, "_own_cpu_cgroup", lambda: "/")
    assert spawner.raise_controller(root=tmp_path).startswith("not raised: ")  # a note, never an error
    assert not list(tmp_path.iterdir())
    monkeypatch.setenv(spawner.ENV, "0")
    assert spawner.raise_controller(root=tmp_path) == f"not raised ({spawner.ENV}=0)"


def _shorten_in_a_thread() -> tuple[str, int | None]:
    """:func:`spawner.shorten_slice` in a new thread (a slice stays with its thread): (note, its slice)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: (spawner.shorten_slice(), spawner._slice_ns())).result()


SHORT = f"slice {spawner.CONTROLLER_SLICE_NS / 1e6:g} ms"


def test_shorten_slice_gives_the_calling_thread_a_short_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    note, got = _shorten_in_a_thread()
    if note != SHORT:
        assert note.startswith("not shortened: ")  # a note, never an error
        pytest.skip(f"no custom scheduling slices here: {note}")
    assert got == spawner.CONTROLLER_SLICE_NS
    assert spawner._slice_ns() != spawner.CONTROLLER_SLICE_NS  # only that thread's
    monkeypatch.setenv(spawner.ENV, "0")
    assert _shorten_in_a_thread()[1] != spawner.CONTROLLER_SLICE_NS


def test_fd_table_is_grown_at_once() -> None:
    # the child inherits the size of this process's table (grown by earlier tests): ask for 4 times that
    code = (
        "import resource\n"
        "from pytest_openwhisk.local.__main__ import reserve_fd_table\n"
        "def size():\n"
        "    return int([l.split()[1] for l in open('/proc/self/status') if l.startswith('FDSize:')][0])\n"
        "before = size()\n"
        "target = 1024\n"
        "while target < 4 * before: target *= 2\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "if hard != resource.RLIM_INFINITY and hard < target: raise SystemExit(f'skip: hard limit {hard}')\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))\n"
        "print(before, target, reserve_fd_table(target), size())\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (300, hard))\n"
        "print(reserve_fd_table(2 ** 20), size())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    if done.stderr.startswith("skip:"):
        pytest.skip(done.stderr.strip())
    assert done.returncode == 0, done.stderr
    before, target, *after = (int(v) for v in done.stdout.split())
    assert before < target
    assert after == [target, target, 300, target]  # capped by the limit; a table never shrinks


@pytest.fixture(scope="module")
def served() -> Iterator[LocalOpenWhiskProcess]:
    """``serve`` in its own process (no sandbox, no stem cells)."""
    config = LocalConfig.benchmark(pool=PoolConfig(prewarm=(), isolation="none", user_memory_mb=256))
    with LocalOpenWhiskProcess(config) as process:
        yield process


def _served_pid(served: LocalOpenWhiskProcess) -> int:
    assert served.process is not None
    return served.process.pid


def test_served_process_reserved_its_fd_table(served: LocalOpenWhiskProcess) -> None:
    pid = _served_pid(served)
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    size = int(next(line.split()[1] for line in status if line.startswith("FDSize:")))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert size >= min(soft, serve_main.FD_TABLE)  # without it: 64 or 256 entries, grown during a storm


def test_served_event_loop_thread_has_the_short_slice(served: LocalOpenWhiskProcess) -> None:
    if _shorten_in_a_thread()[0] != SHORT:
        pytest.skip("no custom scheduling slices on this kernel (Linux >= 6.12 with sched_setattr)")
    pid = _served_pid(served)
    assert spawner._slice_ns(f"/proc/{pid}/task/{pid}/sched") == spawner.CONTROLLER_SLICE_NS


def test_served_controller_outweighs_its_runtimes(served: LocalOpenWhiskProcess) -> None:
    if spawner.runtime_group() is None:
        pytest.skip("no writable cpu cgroup hierarchy (v1 cpu.shares) on this machine: no controller group")
    pid = _served_pid(served)
    group = _cpu_group_of(pid)
    assert group.rsplit("/", 1)[1] == f"{spawner.CONTROLLER_PREFIX}{pid}"
    controller = spawner.CPU_ROOT / group.lstrip("/")
    shares = int((controller / "cpu.shares").read_text())
    runtimes = controller.parent / f"{spawner.PREFIX}{pid}"
    assert shares > int((runtimes / "cpu.shares").read_text())  # a sibling, lighter
    api = Api(served.apihost, served.auth)
    try:
        assert api.put_action("weighed", NOOP, limits={"memory": 128}).status_code == 200
        assert api.invoke("weighed").status_code == 200
    finally:
        api.close()

    def members(group: Path) -> set[int] | None:
        return set(map(int, (group / "cgroup.procs").read_text().split())) or None

    # the runtime boots in the boot group, then moves to the runtimes' group (a worker thread after /init)
    runtime = wait_until(lambda: members(runtimes), what="a runtime in the runtimes' group", timeout=10)
    assert not runtime & (members(controller) or set())


def test_entry_command_stops_when_a_cgroup_cannot_be_entered(tmp_path: Path) -> None:
    missing = str(tmp_path / "gone" / "cgroup.procs")
    argv = spawner.entry_command(["sh", "-c", "echo ran"], str(tmp_path), [missing])
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.returncode == spawner.ENTRY_FAILED
    assert done.stdout == ""  # the runtime never ran
    assert f"{spawner.ENTRY_MARKER} {missing}" in done.stderr


def test_turned_off_through_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(spawner.ENV, "0")
    assert spawner.deprioritize(os.getpid()) == ""
    argv = spawner.entry_command(["true"], str(tmp_path), [])
    assert argv[argv.index(str(tmp_path)) + 1] == ""  # no cpu group to enter


def _weight_of(pid: int) -> str:
    """How ``pid`` is weighted: its cpu cgroup when in the runtimes' group, else its autogroup line."""
    cpu = [line for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines() if ":cpu" in line]
    if any(spawner.PREFIX in line or spawner.BOOT_PREFIX in line for line in cpu):
        return "cgroup"
    try:
        autogroup = Path(f"/proc/{pid}/autogroup").read_text()
    except OSError:
        return ""
    return "autogroup" if autogroup.strip().endswith(f"nice {spawner.AUTOGROUP_NICE}") else ""


@pytest.fixture(scope="module")
def storm_server() -> Iterator[LocalOpenWhisk]:
    """The real invoker without a sandbox (the weight must hold in every mode), room for 8 containers."""
    config = LocalConfig.benchmark(pool=PoolConfig(prewarm=(), isolation="none", user_memory_mb=8 * 128))
    with LocalOpenWhisk(config) as server:
        yield server


@pytest.fixture
def storm_api(storm_server: LocalOpenWhisk) -> Iterator[Api]:
    """A client of :func:`storm_server`."""
    client = Api(storm_server.apihost, storm_server.auth)
    yield client
    client.close()


def test_runtimes_get_the_runtime_weight(storm_server: LocalOpenWhisk, storm_api: Api) -> None:
    if spawner.runtime_group() is None and not IN_AUTOGROUP:
        pytest.skip("neither a writable cpu cgroup hierarchy nor autogroups on this machine")
    assert storm_api.put_action("weighed", NOOP, limits={"memory": 128}).status_code == 200
    assert storm_api.invoke("weighed").status_code == 200
    server = storm_server.server
    assert server is not None
    pids = [e.container.pid for e in server.invoker.pool.entries]  # type: ignore[attr-defined]
    assert pids
    assert {_weight_of(pid) for pid in pids} <= {"cgroup", "autogroup"}
    assert "" not in {_weight_of(pid) for pid in pids}
    assert _weight_of(os.getpid()) == ""  # the controller keeps its full weight


def _cpu_group_of(pid: int) -> str:
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    return next((line.split(":", 2)[2] for line in lines if line.split(":")[1] == "cpu"), "")


def test_runtime_leaves_the_boot_group_after_init(storm_server: LocalOpenWhisk, storm_api: Api) -> None:
    if spawner.boot_group() is None:
        pytest.skip("no writable cpu cgroup hierarchy (v1 cpu.shares) on this machine: no boot group")
    assert storm_api.put_action("promoted", NOOP, limits={"memory": 128}).status_code == 200
    assert storm_api.invoke("promoted").status_code == 200
    server = storm_server.server
    assert server is not None
    pids = [e.container.pid for e in server.invoker.pool.entries if e.initialised]  # type: ignore[attr-defined]
    assert pids
    for pid in pids:  # the move runs in a worker thread after /init

        def promoted(pid: int = pid) -> bool:
            return spawner.PREFIX in _cpu_group_of(pid)

        wait_until(promoted, what=f"runtime {pid} in the runtimes' cpu group", timeout=10)


def test_storm_is_answered_and_every_accepted_invocation_has_a_record(
    storm_server: LocalOpenWhisk, storm_api: Api
) -> None:
    assert storm_api.put_action("storm", NOOP, limits={"memory": 128}).status_code == 200
    total = 40  # 8 cold containers start, the rest queue for them
    before = storm_server.pool_stats()["starts"]

    def invoke(_: int) -> str:
        response = storm_api.invoke("storm", blocking=False)
        assert response.status_code == 202, response.text
        return str(response.json()["activationId"])

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(invoke, range(total)))
    # the controller answers its own routes while the containers start and the queue drains
    assert storm_api.request("GET", f"{storm_server.apihost}/ping").status_code == 200

    def all_recorded() -> bool:
        listed = storm_api.get("/activations", params={"name": "storm", "count": "true"}).json()
        return int(listed["activations"]) >= total

    wait_until(all_recorded, what=f"{total} records of the storm", timeout=120, interval=0.1)
    for activation_id in ids:
        record = storm_api.activation(activation_id).json()
        assert record["response"]["status"] == "success", record
    after = storm_server.pool_stats()["starts"]
    cold, warm = after["cold"] - before["cold"], after["warm"] - before["warm"]
    assert 1 <= cold <= 8
    assert cold + warm == total


def _autogroup_nice() -> int:
    nice = autogroup_nice()
    assert nice is not None
    return nice


def test_sender_autogroup_nice_is_checked() -> None:
    with pytest.raises(WorkloadError, match=r"autogroup_nice = 40 is invalid: must be -20\.\.19"):
        SenderConfig(autogroup_nice=40)


@needs_autogroup
def test_sender_raises_its_group_while_it_runs_and_restores_it(
    storm_server: LocalOpenWhisk, storm_api: Api
) -> None:
    assert storm_api.put_action("paced", NOOP, limits={"memory": 128}).status_code == 200
    before = _autogroup_nice()
    wanted = before + 1  # a higher nice needs no privilege; the restore to `before` is checked below
    seen: list[int] = []
    sender = OpenLoopSender(
        storm_server.apihost,
        storm_server.auth,
        storm_server.namespace,
        SenderConfig(autogroup_nice=wanted, drain_s=30),
    )
    workload = Workload(
        "paced",
        duration_s=0.5,
        seed=1,
        instances=(Instance("paced", "paced", distribution="uniform", rate=20),),
    )
    result = sender.run(workload, on_tick=lambda _: seen.append(_autogroup_nice()), tick_s=0.05)
    assert seen
    assert set(seen) == {wanted}
    assert _autogroup_nice() == before
    assert all(s.status == "accepted" for s in result.samples)


@needs_autogroup
def test_autogroup_fallback_never_lowers_the_controllers_own_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spawner, "runtime_group", lambda: None)
    before = _autogroup_nice()
    child = subprocess.Popen(["sleep", "30"])  # same session: same autogroup as this process
    try:
        assert spawner.deprioritize(child.pid) == ""
        assert _autogroup_nice() == before
    finally:
        child.kill()
        child.wait()
    own = subprocess.Popen(["sleep", "30"], start_new_session=True)  # its own autogroup
    try:
        assert spawner.deprioritize(own.pid) == "autogroup"
        assert (
            Path(f"/proc/{own.pid}/autogroup").read_text().strip().endswith(f"nice {spawner.AUTOGROUP_NICE}")
        )
        assert _autogroup_nice() == before
    finally:
        own.kill()
        own.wait()
