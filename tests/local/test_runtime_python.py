"""The Python runtime proxy spoken to directly over HTTP: /init once, /run, sentinels, zip actions, and its
request framing (split, pipelined, large and malformed requests)."""

from __future__ import annotations

import json
import os
import re
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from pytest_openwhisk.local.container import Container
from pytest_openwhisk.local.logs import SENTINEL
from pytest_openwhisk.local.manifest import interpreter
from pytest_openwhisk.local.runtimes import python_runtime

from .invoker_helpers import init_body, post, with_runtime, zip_b64
from .runtime_helpers import SENTINEL_LINE, RawRuntime, assert_failed_init, raw_runtime

KIND = "python:3.11"


@contextmanager
def initialised(tmp_path: Path, code: str, memory_mb: int = 256) -> Iterator[RawRuntime]:
    """A Python runtime started by hand, ``code`` initialised."""
    with raw_runtime(tmp_path, "python", interpreter(KIND), memory_mb=memory_mb) as runtime:
        assert runtime.post("/init", init_body(code)) == (200, {"ok": True})
        yield runtime


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


def test_the_sentinels_are_in_the_pipes_when_the_response_arrives(tmp_path: Path) -> None:
    """The invoker can give the container back as soon as the response arrives: the activation's logs,
    sentinels included, are already in the pipes."""
    code = (
        "import sys\n"
        "def main(a):\n"
        "    print('out', a['n'])\n"
        "    print('err', a['n'], file=sys.stderr)\n"
        "    return {'n': a['n']}\n"
    )
    with initialised(tmp_path, code) as runtime:
        for n in (1, 2):  # each activation's own output, then its sentinel
            assert runtime.post("/run", {"value": {"n": n}}) == (200, {"n": n})
            assert runtime.available(runtime.stdout) == f"out {n}\n".encode() + SENTINEL_LINE
            assert runtime.available(runtime.stderr) == f"err {n}\n".encode() + SENTINEL_LINE


def test_a_failed_init_writes_its_sentinels_before_answering(tmp_path: Path) -> None:
    with raw_runtime(tmp_path, "python", interpreter(KIND)) as runtime:
        assert_failed_init(runtime, "def other(a):\n    return a\n", "the action has no function 'main'")


def test_a_result_too_large_to_serialise_is_an_oom_in_its_own_logs(tmp_path: Path) -> None:
    """The result is serialised before the sentinels go out: the OOM marker ends the activation's logs
    (it used to come after them, in the next activation's)."""
    code = "def main(a):\n    x = 'a' * (60 << 20)\n    print('made')\n    return {'x': x}\n"
    with initialised(tmp_path, code, memory_mb=128) as runtime:
        runtime.send("/run", {"value": {}})
        with pytest.raises(ConnectionError):
            runtime.response()
        assert runtime.read_until_sentinel(runtime.stdout) == b"made\n" + SENTINEL_LINE
        assert runtime.read_until_sentinel(runtime.stderr) == python_runtime.MARKER_OOM_LINE + SENTINEL_LINE
        assert runtime.available(runtime.stdout) == runtime.available(runtime.stderr) == b""  # and no more


# --- request framing: python_runtime.serve on a socket pair, with an action stub ----------------------------


class Echo:
    """An action stub: ``/run`` answers the request's value, ``/init`` answers 200."""

    def init(self, message: Any) -> python_runtime.Reply:
        return 200, {"ok": True}, False

    def run(self, message: Any) -> python_runtime.Reply:
        return 200, message.get("value", {}), False

    def after_reply(self) -> None:
        pass


class Trickle(socket.socket):
    """A socket whose reads return at most ``step`` bytes: every request arrives in many pieces."""

    step = 7

    def recv(self, size: int, flags: int = 0) -> bytes:
        return super().recv(min(size, self.step), flags)

    def recv_into(self, buffer: Any, size: int = 0, flags: int = 0) -> int:
        size = min(size or len(buffer), self.step)
        return super().recv_into(buffer, size, flags)


Serve = Callable[..., socket.socket]


@pytest.fixture
def served() -> Iterator[Serve]:
    """Factory: ``served(socket_class=socket.socket)`` -> a client socket whose peer (of that class) is
    served by ``python_runtime.serve`` in a thread."""
    pairs: list[tuple[socket.socket, threading.Thread]] = []

    def start(kind: type[socket.socket] = socket.socket) -> socket.socket:
        client, server = socket.socketpair()
        peer = kind(fileno=server.detach())
        thread = threading.Thread(target=python_runtime.serve, args=(peer, Echo()), daemon=True)
        thread.start()
        client.settimeout(5.0)
        pairs.append((client, thread))
        return client

    yield start
    for client, thread in pairs:
        client.close()
        thread.join(5.0)


def responses(client: socket.socket, count: int) -> list[tuple[int, Any]]:
    """Read ``count`` responses (status, JSON body) from ``client``."""
    buf, out = b"", list[tuple[int, Any]]()
    while len(out) < count:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            length = int(buf[:end].lower().split(b"content-length:")[1].split(b"\r\n")[0])
            if len(buf) >= end + 4 + length:
                out.append((int(buf.split()[1]), json.loads(buf[end + 4 : end + 4 + length])))
                buf = buf[end + 4 + length :]
                continue
        data = client.recv(1 << 20)
        assert data, f"connection closed after {out}; pending {buf!r}"
        buf += data
    return out


def request(value: Any, path: str = "/run", newline: str = "\r\n", header: str = "Content-Length") -> bytes:
    body = json.dumps({"value": value}).encode()
    head = newline.join([f"POST {path} HTTP/1.1", "Host: x", f"{header}: {len(body)}", "", ""])
    return head.encode() + body


def test_pipelined_requests_are_answered_in_order(served: Serve) -> None:
    client = served()
    client.sendall(request({"n": 1}) + request({"n": 2}) + request({"n": 3}, path="/nope"))
    assert responses(client, 3) == [
        (200, {"n": 1}),
        (200, {"n": 2}),
        (404, {"error": "no such endpoint: POST /nope"}),
    ]


def test_requests_split_across_many_reads(served: Serve) -> None:
    client = served(Trickle)
    big = "x" * 70_000  # the body is longer than the head and than one read
    client.sendall(request({"n": 1}) + request({"big": big}) + request({"n": 3}, newline="\n"))
    assert responses(client, 3) == [(200, {"n": 1}), (200, {"big": big}), (200, {"n": 3})]


def test_a_body_larger_than_one_read_and_lowercase_headers(served: Serve) -> None:
    client = served()
    big = "y" * (3 << 20)
    client.sendall(request({"big": big}, header="content-length") + request({"n": 2}))
    assert responses(client, 2) == [(200, {"big": big}), (200, {"n": 2})]


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"POST /run\r\n\r\n", "malformed request line"),
        (b"\r\n\r\n", "malformed request line"),
        (b"POST /run HTTP/1.1\r\nContent-Length: -5\r\n\r\n", "bad Content-Length: b'-5'"),
        (b"POST /run HTTP/1.1\r\nContent-Length: 1_0\r\n\r\n", "bad Content-Length: b'1_0'"),
        (b"POST /run HTTP/1.1\r\nX: " + b"a" * 70_000 + b"\r\n\r\n", "request head longer than 65536 bytes"),
        (b"POST /run HTTP/1.1\r\nX: " + b"a" * 70_000, "request head longer than 65536 bytes"),
    ],
    ids=["two-words", "blank", "negative-length", "underscore-length", "long-head", "long-unfinished-head"],
)
def test_malformed_requests_get_400_and_the_connection_closes(served: Serve, raw: bytes, error: str) -> None:
    client = served()
    client.sendall(raw)
    assert responses(client, 1) == [(400, {"error": error})]
    assert client.recv(1) == b""


def test_bad_json_gets_400_and_the_connection_stays(served: Serve) -> None:
    client = served()
    client.sendall(b"POST /run HTTP/1.1\r\nContent-Length: 3\r\n\r\n{x}" + request({"n": 2}))
    (status, body), second = responses(client, 2)
    assert status == 400
    assert body["error"].startswith("Error unmarshaling request: ")
    assert second == (200, {"n": 2})


def test_a_peer_closing_in_the_head_gets_400_and_between_requests_nothing(served: Serve) -> None:
    client = served()
    client.sendall(b"POST /run HTTP/1.1\r\nContent-")
    client.shutdown(socket.SHUT_WR)
    assert responses(client, 1) == [(400, {"error": "connection closed in the request head"})]
    quiet = served()
    quiet.sendall(request({"n": 1}))
    quiet.shutdown(socket.SHUT_WR)
    assert responses(quiet, 1) == [(200, {"n": 1})]
    assert quiet.recv(1) == b""


ENV_PROBE = """
import ctypes, os, subprocess
getenv = ctypes.CDLL(None).getenv
getenv.restype = ctypes.c_void_p
def main(args):
    seen = {"py": [os.environ.get(k) for k in ("__OW_ACTIVATION_ID", "__OW_NAMESPACE")],
            "at": getenv(b"__OW_ACTIVATION_ID")}
    if args.get("child"):
        command = ["/bin/sh", "-c", "echo $__OW_ACTIVATION_ID $__OW_NAMESPACE"]
        seen["child"] = subprocess.run(command, capture_output=True, text=True).stdout.split()
    if args.get("tamper"):
        os.environ["__OW_NAMESPACE"] = "tampered"
        del os.environ["__OW_ACTIVATION_ID"]
    return seen
"""


def test_ow_variables_are_rewritten_in_place_in_a_long_lived_runtime(tmp_path: Path) -> None:
    """setenv keeps every string it made: after IN_PLACE_AFTER activations the runtime rewrites one buffer
    per variable instead (the C string stays where it is), and the values stay right for the action, its
    child processes and after the action changed them."""

    def run(n: int, **value: bool) -> Any:
        message = {"value": value, "namespace": "guest", "activation_id": f"{n:032x}"}
        status, seen = runtime.post("/run", message)
        assert status == 200
        runtime.read_until_sentinel(runtime.stdout)  # the pipes are small: keep them flowing
        runtime.read_until_sentinel(runtime.stderr)
        assert seen["py"] == [f"{n:032x}", "guest"]
        assert seen.get("child", seen["py"]) == seen["py"]
        return seen["at"]

    with initialised(tmp_path, ENV_PROBE) as runtime:
        before = {run(n) for n in range(1, 4)}
        assert len(before) == 3  # setenv: a new string for every new value
        for n in range(4, python_runtime.IN_PLACE_AFTER + 1):
            run(n)
        after = {run(n, child=True) for n in range(1000, 1004)}
        assert len(after) == 1  # rewritten in place
        run(1004, tamper=True)
        run(1005, child=True)  # put back for the action and its children
        assert run(1006, child=True) == run(1007)


def test_sentinels_reach_the_pipes_after_unfinished_lines_and_rebound_streams(tmp_path: Path) -> None:
    code = (
        "import io, sys\n"
        "def main(args):\n"
        "    print('no newline', end='')\n"
        "    if args.get('rebind'):\n"
        "        sys.stdout, sys.stderr = io.StringIO(), io.StringIO()\n"
        "    return {}\n"
    )
    with initialised(tmp_path, code) as runtime:
        # the third run prints into the StringIO
        for value, out in (({}, b"no newline"), ({"rebind": True}, b"no newline"), ({}, b"")):
            assert runtime.post("/run", {"value": value}) == (200, {})
            assert runtime.read_until_sentinel(runtime.stdout) == out + SENTINEL_LINE
            assert runtime.read_until_sentinel(runtime.stderr) == SENTINEL_LINE


def test_the_runtime_starts_without_costly_modules(tmp_path: Path) -> None:
    """socket (~3.6 ms), threading (~3 ms), json and re (~2.2 ms), typing (~2.3 ms), http.server (~90 ms)
    and ctypes (~3 ms) are not imported by a cold runtime."""
    costly = ("socket", "enum", "threading", "collections", "json", "re", "typing", "http.server", "ctypes")
    code = (
        "import sys\n"
        f"LOADED = [m for m in {costly!r} if m in sys.modules]\n"
        "def main(args):\n"
        "    return {'loaded': LOADED}\n"
    )
    with initialised(tmp_path, code) as runtime:
        assert runtime.post("/run", {"value": {}}) == (200, {"loaded": []})


BODIES = [b"{}", b" [1, 2] ", b'{"a": "\\u00e9\\n", "b": 1e5, "c": -0.5, "d": [true, null]}']
BODIES += ['{"x": "\u00e9"}'.encode(), b'\xef\xbb\xbf{"bom": 1}', '{"utf16": 1}'.encode("utf-16")]
BODIES += [b"{", b"{} x", b"", b"nul", b"\xff"]  # json's errors


@pytest.mark.parametrize("body", BODIES)
def test_request_bodies_decode_as_json_does(body: bytes) -> None:
    try:
        expected: Any = json.loads(body)
    except ValueError as exc:
        with pytest.raises(ValueError, match=re.escape(str(exc))):
            python_runtime.LOADS(body)
    else:
        assert python_runtime.LOADS(body) == expected


@pytest.mark.parametrize(
    "value", [{"ok": True}, [1, "\u00e9", None, 2.5], "top", {"n": float("nan")}, {"o": object()}, {1: 2}]
)
def test_results_encode_as_json_does(value: Any) -> None:
    try:
        expected = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        with pytest.raises(type(exc), match=re.escape(str(exc))):
            python_runtime.DUMPS(value)
    else:
        assert python_runtime.DUMPS(value) == expected


def test_the_runtime_is_a_module_not_the_started_script(tmp_path: Path) -> None:
    """A script is compiled at every start (~3 ms for the runtime); a module loads from cached bytecode.
    Neither the runtimes' directory nor the module's name stays for the action to trip over."""
    code = (
        "import sys\n"
        "SCRIPT = sys.modules['__main__']\n"
        "def main(args):\n"
        "    return {'script_serves': hasattr(SCRIPT, 'serve'),\n"
        "            'name_taken': 'python_runtime' in sys.modules,\n"
        "            'on_path': [p for p in sys.path if p.endswith('runtimes')]}\n"
    )
    with initialised(tmp_path, code) as runtime:
        seen = runtime.post("/run", {"value": {}})
        assert seen == (200, {"script_serves": False, "name_taken": False, "on_path": []})
