"""The Python runtime of the embedded OpenWhisk: one action per process, OpenWhisk's /init + /run protocol.

Started by the invoker as ``python -I -S python_proxy.py LISTEN_FD MEMORY_BYTES WORKDIR SITE_DIRS
CODE_MAX_BYTES``. It serves HTTP/1.1 with keep-alive on the inherited listening socket (a Unix socket only
the invoker can reach, so there is no port to discover and no bind race) and imports only a few stdlib
modules: ``http.server`` alone costs ~90 ms here, so the request parsing is done by hand. Semantics
follow the actionloop Python launcher:

* ``/init`` once (a second one is refused with 403); plain code or a base64 zip with ``__main__.py``
  at its root (plus ``virtualenv/lib/python3.*/site-packages`` when present); ``main`` selectable.
* ``/run``: non-``value`` keys become ``__OW_<KEY>`` env vars; an exception is an application error
  ``{"error": str(exc)}`` (traceback on stderr); a result that is not a dict or list is refused with 502.
* after every activation the sentinel line goes to stdout and stderr.
* a ``MemoryError`` (also while serialising the result) ends the process with exit code 137 after
  writing :data:`MARKER_OOM` on stderr, which the invoker reports as an OOM;
* a zipped action may unpack to at most ``CODE_MAX_BYTES`` (0 = no cap).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
from typing import Any, NoReturn

SENTINEL = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"
EXIT_OOM = 137
MARKER_OOM = "MemoryError: the action exhausted its memory limit"
REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


class Action:
    """The initialised action: its entry point, shared by every connection."""

    def __init__(self, workdir: str, site_dirs: list[str], code_max_bytes: int = 0) -> None:
        self.workdir = workdir
        self.code_max_bytes = code_max_bytes
        self.site_dirs = site_dirs
        self.lock = threading.Lock()
        self.initialised = False
        self.main: Any = None

    def init(self, message: Any) -> tuple[int, Any]:
        """Handle ``/init``: load the code once."""
        with self.lock:
            if self.initialised:
                return 403, {"error": "Cannot initialize the action more than once."}
            value = message.get("value") if isinstance(message, dict) else None
            if not isinstance(value, dict) or not value.get("code"):
                return 403, {"error": "Missing main/no code to execute."}
            self.initialised = True
            try:
                self.main = self._load(value)
            except MemoryError:
                out_of_memory()
            except Exception as exc:
                import traceback

                traceback.print_exc()
                end_activation()
                return 502, {"error": f"Initialization has failed due to: {type(exc).__name__}: {exc}"}
            return 200, {"ok": True}

    def _load(self, value: dict[str, Any]) -> Any:
        for key, item in (value.get("env") or {}).items():
            os.environ[str(key)] = item if isinstance(item, str) else json.dumps(item)
        action_dir = os.path.join(self.workdir, "action")
        os.makedirs(action_dir, exist_ok=True)
        entry = os.path.join(action_dir, "__main__.py")
        if value.get("binary"):
            import base64
            import io
            import zipfile

            try:
                archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(value["code"], validate=True)))
            except Exception as exc:
                raise ValueError(f"the code is not a base64-encoded zip file ({exc})") from None
            unpacked = sum(info.file_size for info in archive.infolist())
            if self.code_max_bytes and unpacked > self.code_max_bytes:
                raise ValueError(
                    f"the zip file unpacks to {unpacked} bytes, more than the allowed "
                    f"{self.code_max_bytes} bytes; ship less code or raise the pool's code size limit"
                )
            archive.extractall(action_dir)
            if not os.path.isfile(entry):
                raise ValueError(
                    "the zip file has no __main__.py at its root; put the module defining "
                    f"{value.get('main') or 'main'}() in __main__.py"
                )
        else:
            with open(entry, "w", encoding="utf-8") as handle:
                handle.write(value["code"])
        lib = os.path.join(action_dir, "virtualenv", "lib")
        venv = []
        if os.path.isdir(lib):  # a packed virtualenv: virtualenv/lib/python3.*/site-packages
            versions = sorted(d for d in os.listdir(lib) if d.startswith("python3."))
            venv = [os.path.join(lib, d, "site-packages") for d in versions]
        sys.path[:0] = [action_dir, *venv]
        sys.path.extend(self.site_dirs)
        os.chdir(action_dir)
        module = type(sys)("main__")  # the launcher imports the action as module main__
        module.__file__ = entry
        sys.modules["main__"] = module
        with open(entry, encoding="utf-8") as handle:
            source = handle.read()
        exec(compile(source, entry, "exec"), module.__dict__)
        name = value.get("main") or "main"
        function = getattr(module, name, None)
        if not callable(function):
            raise NameError(
                f"the action has no function '{name}'; define def {name}(args): ... "
                "or set the action's main to the function to call"
            )
        return function

    def run(self, message: Any) -> tuple[int, Any]:
        """Handle ``/run``: call the entry point with ``value``."""
        if not self.initialised or self.main is None:
            return 500, {"error": "no action defined yet"}
        if not isinstance(message, dict):
            return 400, {"error": "Error unmarshaling request: not a JSON object"}
        environ = os.environ
        for key, item in message.items():
            if key != "value":
                name, text = f"__OW_{key.upper()}", item if isinstance(item, str) else json.dumps(item)
                if environ.get(name) != text:  # most keys repeat on a warm container: no setenv then
                    environ[name] = text
        try:
            result = self.main(message.get("value", {}))
        except MemoryError:
            out_of_memory()
        except Exception as exc:
            import traceback

            traceback.print_exc()
            result = {"error": str(exc)}
        end_activation()
        if not isinstance(result, dict | list):
            return 502, {"error": "The action did not return a dictionary or array."}
        return 200, result


class Box(list):  # type: ignore[type-arg]
    """Holds a response payload so that :func:`respond` owns the only reference to it."""


def end_activation() -> None:
    """Print the activation-end sentinel on stdout and stderr."""
    sys.stdout.write(SENTINEL + "\n")
    sys.stdout.flush()
    sys.stderr.write(SENTINEL + "\n")
    sys.stderr.flush()


def out_of_memory() -> NoReturn:
    """Report an exhausted memory limit and end the process (the invoker maps exit 137 to an OOM)."""
    try:
        sys.stderr.write(MARKER_OOM + "\n")
        end_activation()
    finally:
        os._exit(EXIT_OOM)


def respond(conn: socket.socket, status: int, payload: Any) -> None:
    """Send one JSON response; small ones in one write, large ones without copying the body again.

    ``payload`` may be a :class:`Box` that this function empties, so a large result is freed as soon as
    it is serialised. A ``MemoryError`` while serialising is the action's OOM."""
    if type(payload) is Box:
        payload = payload.pop()
    try:
        body = json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    except MemoryError:
        payload = None
        out_of_memory()
    except (TypeError, ValueError) as exc:
        status, body = (
            502,
            json.dumps({"error": f"The action did not return a dictionary or array: {exc}"}).encode(),
        )
    payload = None  # the result may be large: let it go before sending
    head = (
        f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    if len(body) < 65536:
        conn.sendall(head + body)
    else:
        conn.sendall(head)
        conn.sendall(body)


def serve(conn: socket.socket, action: Action) -> None:
    """Serve one keep-alive connection until the peer closes it."""
    if conn.family != socket.AF_UNIX:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    stream = conn.makefile("rb")
    try:
        while True:
            line = stream.readline(65537)
            if not line:
                return
            parts = line.split()
            if len(parts) != 3:
                respond(conn, 400, {"error": "malformed request line"})
                return
            length = 0
            while True:
                header = stream.readline(65537)
                if header in (b"\r\n", b"\n", b""):
                    break
                name, _, raw = header.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(raw.strip())
            body = stream.read(length) if length else b""
            method, path = parts[0], parts[1]
            if method != b"POST" or path not in (b"/init", b"/run"):
                respond(conn, 404, {"error": f"no such endpoint: {method.decode()} {path.decode()}"})
                continue
            try:
                message = json.loads(body) if body else {}
            except ValueError as exc:
                respond(conn, 400, {"error": f"Error unmarshaling request: {exc}"})
                continue
            reply = Box(action.init(message) if path == b"/init" else action.run(message))
            respond(conn, reply.pop(0), reply)
    except (ConnectionError, OSError):
        return
    finally:
        stream.close()
        conn.close()


def exit_with_parent() -> None:
    """Exit when stdin reaches EOF: the invoker holds the other end, so it has gone away."""
    try:
        sys.stdin.buffer.read()
    finally:
        os._exit(0)


def batch_scheduling() -> None:
    """Run as ``SCHED_BATCH`` (no privilege needed; threads and child processes inherit it): a runtime woken
    by the invoker's request no longer preempts the invoker on the CPU they share, so the controller keeps
    running until it waits (it answers, reads and dispatches in batches under load) instead of losing the
    CPU at every ``/run`` it sends. CPU shares are unchanged; only wakeup preemption goes."""
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (AttributeError, OSError):  # not Linux, or refused: keep the default policy
        pass


def main() -> None:
    """Entry point: limit memory, then accept connections on the inherited socket forever."""
    fd, memory, workdir, sites = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    code_max = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    if memory > 0:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    batch_scheduling()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    sys.argv = [os.path.join(workdir, "action", "__main__.py")]
    action = Action(workdir, [d for d in sites.split(os.pathsep) if d], code_max)
    listener = socket.socket(fileno=fd)
    threading.Thread(target=exit_with_parent, daemon=True).start()
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn, action), daemon=True).start()


if __name__ == "__main__":
    main()
