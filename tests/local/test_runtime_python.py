"""The Python runtime proxy spoken to directly over HTTP: /init once, /run, sentinels, zip actions."""

from __future__ import annotations

import os
from pathlib import Path

from pytest_openwhisk.local.container import Container
from pytest_openwhisk.local.logs import SENTINEL

from .invoker_helpers import init_body, post, with_runtime, zip_b64

KIND = "python:3.11"


def test_second_init_is_refused_with_403(tmp_path: Path) -> None:
    async def scenario(c: Container) -> None:
        assert await post(c, "/init", init_body("def main(a):\n    return a")) == (200, {"ok": True})
        status, body = await post(c, "/init", init_body("def main(a):\n    return {}"))
        assert (status, body) == (403, {"error": "Cannot initialize the action more than once."})
        assert await post(c, "/run", {"value": {"still": "first"}}) == (200, {"still": "first"})

    with_runtime(tmp_path, scenario, KIND)


def test_run_before_init_and_empty_code_are_refused(tmp_path: Path) -> None:
    async def scenario(c: Container) -> None:
        assert await post(c, "/run", {"value": {}}) == (500, {"error": "no action defined yet"})
        assert await post(c, "/init", init_body("")) == (403, {"error": "Missing main/no code to execute."})

    with_runtime(tmp_path, scenario, KIND)


def test_run_exports_ow_env_and_prints_sentinels(tmp_path: Path) -> None:
    code = (
        "import os\n"
        "def main(args):\n"
        "    print('to stdout')\n"
        "    return {k: v for k, v in os.environ.items() if k.startswith('__OW_')}\n"
    )

    async def scenario(c: Container) -> None:
        await post(c, "/init", init_body(code, env={"SECRET_PARAM": "s"}))
        status, env = await post(
            c,
            "/run",
            {
                "value": {},
                "namespace": "guest",
                "action_name": "/guest/a",
                "activation_id": "ab" * 16,
                "deadline": "1700000000000",
            },
        )
        assert status == 200
        assert env["__OW_NAMESPACE"] == "guest"
        assert env["__OW_ACTION_NAME"] == "/guest/a"
        assert env["__OW_ACTIVATION_ID"] == "ab" * 16
        assert env["__OW_DEADLINE"] == "1700000000000"
        out, _, complete = await c.stdout.next_chunk(5.0)
        err, _, err_complete = await c.stderr.next_chunk(5.0)
        assert complete
        assert err_complete
        assert [text for _, text in out] == ["to stdout"]
        assert err == []

    with_runtime(tmp_path, scenario, KIND)


def test_results_exceptions_and_lists(tmp_path: Path) -> None:
    code = (
        "def main(args):\n"
        "    kind = args['kind']\n"
        "    if kind == 'raise':\n"
        "        raise ValueError('bad input 42')\n"
        "    if kind == 'list':\n"
        "        return [1, 2]\n"
        "    if kind == 'str':\n"
        "        return 'text'\n"
        "    return {'ok': True}\n"
    )

    async def scenario(c: Container) -> None:
        await post(c, "/init", init_body(code))
        assert await post(c, "/run", {"value": {"kind": "raise"}}) == (200, {"error": "bad input 42"})
        assert await post(c, "/run", {"value": {"kind": "list"}}) == (200, [1, 2])
        assert await post(c, "/run", {"value": {"kind": "str"}}) == (
            502,
            {"error": "The action did not return a dictionary or array."},
        )
        assert await post(c, "/run", {"value": {"kind": "dict"}}) == (200, {"ok": True})
        err, _, _ = await c.stderr.next_chunk(5.0)
        assert any("ValueError: bad input 42" in text for _, text in err)  # traceback in the logs

    with_runtime(tmp_path, scenario, KIND)


def test_zip_action_with_helper_module_and_custom_main(tmp_path: Path) -> None:
    code = zip_b64(
        {
            "__main__.py": (
                "from helper import double\ndef handler(args):\n    return {'v': double(args['n'])}\n"
            ),
            "helper.py": "def double(n):\n    return 2 * n\n",
        }
    )

    async def scenario(c: Container) -> None:
        assert (await post(c, "/init", init_body(code, main="handler", binary=True)))[0] == 200
        assert await post(c, "/run", {"value": {"n": 21}}) == (200, {"v": 42})

    with_runtime(tmp_path, scenario, KIND)


def test_zip_virtualenv_site_packages_are_importable(tmp_path: Path) -> None:
    code = zip_b64(
        {
            "__main__.py": "import vendored\ndef main(args):\n    return {'v': vendored.VALUE}\n",
            "virtualenv/lib/python3.11/site-packages/vendored.py": "VALUE = 'from the virtualenv'\n",
        }
    )

    async def scenario(c: Container) -> None:
        await post(c, "/init", init_body(code, binary=True))
        assert await post(c, "/run", {"value": {}}) == (200, {"v": "from the virtualenv"})

    with_runtime(tmp_path, scenario, KIND)


def test_init_failures_name_the_problem(tmp_path: Path) -> None:
    async def scenario(c: Container) -> None:
        status, body = await post(c, "/init", init_body("def other(a):\n    return a\n"))
        assert status == 502
        assert "has no function 'main'" in body["error"]
        out, _, _ = await c.stdout.next_chunk(5.0)  # sentinels written after a failed init
        assert out == []

    with_runtime(tmp_path, scenario, KIND)


def test_zip_without_main_module_is_refused(tmp_path: Path) -> None:
    async def scenario(c: Container) -> None:
        status, body = await post(c, "/init", init_body(zip_b64({"lib.py": "X = 1\n"}), binary=True))
        assert status == 502
        assert "no __main__.py at its root" in body["error"]

    with_runtime(tmp_path, scenario, KIND)


def test_sentinel_constant_matches_openwhisk() -> None:
    assert SENTINEL == "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"


def test_the_runtime_and_what_it_starts_run_as_sched_batch(tmp_path: Path) -> None:
    """No wakeup preemption of the invoker: the proxy, its request thread and a child process are
    SCHED_BATCH."""
    code = (
        "import os, subprocess, sys\n"
        "def main(args):\n"
        "    child = subprocess.run([sys.executable, '-c', 'import os; print(os.sched_getscheduler(0))'],\n"
        "                           capture_output=True, text=True).stdout.strip()\n"
        "    return {'thread': os.sched_getscheduler(0), 'process': os.sched_getscheduler(os.getpid()),\n"
        "            'child': int(child)}\n"
    )

    async def scenario(c: Container) -> None:
        await post(c, "/init", init_body(code))
        status, policies = await post(c, "/run", {"value": {}})
        assert status == 200
        assert policies == {"thread": os.SCHED_BATCH, "process": os.SCHED_BATCH, "child": os.SCHED_BATCH}

    with_runtime(tmp_path, scenario, KIND)


def test_every_run_sees_its_own_ow_values_even_after_the_action_changed_them(tmp_path: Path) -> None:
    code = (
        "import os\n"
        "def main(args):\n"
        "    seen = {k: os.environ[k] for k in ('__OW_NAMESPACE', '__OW_ACTIVATION_ID')}\n"
        "    os.environ['__OW_NAMESPACE'] = 'tampered'\n"
        "    return seen\n"
    )

    async def scenario(c: Container) -> None:
        await post(c, "/init", init_body(code))
        for n in range(3):
            status, seen = await post(
                c, "/run", {"value": {}, "namespace": "guest", "activation_id": f"{n:032x}"}
            )
            assert status == 200
            assert seen == {"__OW_NAMESPACE": "guest", "__OW_ACTIVATION_ID": f"{n:032x}"}

    with_runtime(tmp_path, scenario, KIND)
