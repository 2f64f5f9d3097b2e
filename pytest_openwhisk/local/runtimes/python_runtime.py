"""The Python runtime of the embedded OpenWhisk: one action per process, OpenWhisk's /init + /run protocol.

Started by the invoker as ``python -I -S python_proxy.py LISTEN_FD MEMORY_BYTES WORKDIR SITE_DIRS
CODE_MAX_BYTES``, a small script that runs :func:`main` of this module (a module loads from its cached
bytecode; a script is compiled at every start, ~3 ms for this one). It serves HTTP/1.1 with keep-alive
on the inherited listening socket (a Unix socket only the invoker can reach, so there is no port to
discover and no bind race) and imports only a few stdlib modules: ``http.server`` alone costs ~90 ms
here, so the request parsing is done by hand. Semantics follow the actionloop Python launcher:

* ``/init`` once (a second one is refused with 403); plain code or a base64 zip with ``__main__.py``
  at its root (plus ``virtualenv/lib/python3.*/site-packages`` when present); ``main`` selectable.
* ``/run``: non-``value`` keys become ``__OW_<KEY>`` env vars (:class:`ActivationEnv`); an exception is an
  application error ``{"error": str(exc)}`` (traceback on stderr); a result that is not a dict or list is
  refused with 502.
* after every activation (and a failed init) the sentinel line goes to stdout and stderr, just before
  the HTTP response: when the response arrives the invoker has the activation's whole logs, so it
  can give the container back at once (a response sent first would leave it waiting for the
  sentinels while the next request finds the container still busy);
* a ``MemoryError`` (also while serialising the result) ends the process with exit code 137 after
  writing :data:`MARKER_OOM` on stderr, which the invoker reports as an OOM;
* a zipped action may unpack to at most ``CODE_MAX_BYTES`` (0 = no cap).
"""

from __future__ import annotations

import _socket
import _thread
import os
import sys

TYPE_CHECKING = False  # typing costs ~2.3 ms to import, ~10% of a cold start: only for the type checker
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, NoReturn, Protocol

    # (HTTP status, payload, an activation ended: sentinels before the response)
    Reply = tuple[int, Any, bool]

    class Handler(Protocol):
        """What :func:`serve` drives: this module's :class:`Action` or the Java/Ruby proxy's."""

        def init(self, message: Any) -> Reply:
            """Handle ``/init``."""

        def run(self, message: Any) -> Reply:
            """Handle ``/run``."""

        def after_reply(self) -> None:
            """Tidy up after a response has been sent (off the invoker's critical path)."""


SENTINEL = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"
SENTINEL_LINE = (SENTINEL + "\n").encode()
HEAD_MAX = 65536  # bytes of a request head (request line and headers); a longer one is refused with 400
EXIT_OOM = 137
MARKER_OOM = "MemoryError: the action exhausted its memory limit"
MARKER_OOM_LINE = (MARKER_OOM + "\n").encode()
REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
IN_PLACE_AFTER = 256  # activations served before the __OW_* variables move to buffers rewritten in place


def _json_codec() -> tuple[Callable[[bytes | bytearray], Any], Callable[[Any], str]]:
    """``(loads, dumps)`` for request bodies and results, straight from the C accelerator ``_json``: the
    ``json`` package imports ``re`` (~2.2 ms, ~11% of a cold /init + /run). ``dumps`` is
    ``json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))``; ``loads`` reads
    UTF-8. Anything else (a bad body, another encoding, an interpreter whose ``_json`` differs) goes to
    ``json`` itself, so results and error messages are json's."""

    def json_loads(body: bytes | bytearray) -> Any:
        import json

        return json.loads(body)

    def json_dumps(value: Any) -> str:
        import json

        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))

    try:
        from _json import encode_basestring, make_encoder, make_scanner
    except ImportError:
        return json_loads, json_dumps

    class Context:  # what make_scanner reads from a json.JSONDecoder
        strict = True
        object_hook = object_pairs_hook = None
        parse_float, parse_int = float, int
        parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.get

    try:
        scan = make_scanner(Context())  # type: ignore[arg-type]  # read like a json.JSONDecoder
    except (AttributeError, TypeError):
        return json_loads, json_dumps

    def default(value: Any) -> Any:
        raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")

    def dumps(value: Any) -> str:
        encode = make_encoder({}, default, encode_basestring, None, ":", ",", False, False, False)
        return "".join(encode(value, 0))

    def loads(body: bytes | bytearray) -> Any:
        try:
            text = body.decode()
            value, end = scan(text, len(text) - len(text.lstrip(" \t\n\r")))
            if text[end:].strip(" \t\n\r"):
                raise ValueError("extra data")
        except (ValueError, StopIteration):  # UnicodeDecodeError is a ValueError too
            return json_loads(body)  # json's own answer or error message
        return value

    sample, text = {"a": [1, 2.5, "\u00e9", None, True]}, '{"a":[1,2.5,"\u00e9",null,true]}'
    try:
        if scan(text, 0) == (sample, len(text)) and dumps(sample) == text:
            return loads, dumps
    except Exception:  # any difference in this interpreter's _json: use json
        pass
    return json_loads, json_dumps


LOADS, DUMPS = _json_codec()


def _text(value: Any) -> str:
    """A non-string environment value, as json.dumps writes it (rare: the invoker sends strings)."""
    import json

    return json.dumps(value)


class ActivationEnv:
    """Sets each activation's ``__OW_<KEY>`` variables, in ``os.environ`` and in the C environment that child
    processes inherit; only those whose value changed.

    ``os.environ[name] = text`` calls setenv(3), and glibc keeps every string setenv ever allocated (a
    getenv caller may still hold it): with new activation and transaction ids on every /run, a warm
    runtime grew by ~270 bytes per activation and setenv slowed down as that set grew. So, once
    :meth:`settle` has run (after :data:`IN_PLACE_AFTER` activations: importing ``ctypes`` costs ~3 ms, too
    much for a cold start), each variable owns one C buffer, put in the environment once with putenv(3)
    (which keeps the pointer, no copy) and rewritten in place, and ``os.environ``'s own mapping is updated
    directly. A variable the action changed or removed through ``os.environ`` is put back on the next /run."""

    def __init__(self) -> None:
        self.putenv: Any = None  # libc's putenv, once settled
        self.buffers: dict[bytes, Any] = {}  # encoded name -> its "NAME=value" C buffer in the environment
        self.written: dict[bytes, bytes] = {}  # encoded name -> the value last written there
        self.data: dict[bytes, bytes] = {}  # os.environ's own mapping (encoded), once settled
        self.names: dict[str, bytes] = {}  # message key -> encoded variable name
        self.encoding = sys.getfilesystemencoding()  # how os.environ encodes

    def update(self, message: dict[str, Any]) -> None:
        """Export the non-``value`` keys of a /run message."""
        if self.putenv is not None:
            self._update_in_place(message)
            return
        environ = os.environ
        for key, item in message.items():
            if key != "value":
                name, text = f"__OW_{key.upper()}", item if isinstance(item, str) else _text(item)
                if environ.get(name) != text:  # most keys repeat on a warm container
                    environ[name] = text

    def _update_in_place(self, message: dict[str, Any]) -> None:
        data, names, encoding = self.data, self.names, self.encoding
        for key, item in message.items():
            if key != "value":
                name = names.get(key)
                if name is None:
                    name = names[key] = f"__OW_{key.upper()}".encode(encoding, "surrogateescape")
                text = item if isinstance(item, str) else _text(item)
                value = text.encode(encoding, "surrogateescape")
                if data.get(name) != value:
                    self._write(name, value)

    def _write(self, key: bytes, value: bytes) -> None:
        line = key + b"=" + value
        buffer = self.buffers.get(key)
        if buffer is not None and len(line) < len(buffer) and self.data.get(key) == self.written[key]:
            buffer.value = line  # still the environment's string (the action did not replace it)
        else:
            import ctypes

            buffer = self.buffers[key] = ctypes.create_string_buffer(line, len(line) + 32)
            self.putenv(buffer)
        self.data[key] = self.written[key] = value

    def settle(self) -> None:
        """Switch to buffers rewritten in place; keeps setenv where libc's putenv is not at hand."""
        try:
            import ctypes

            putenv = ctypes.CDLL(None).putenv
        except (ImportError, OSError, AttributeError):
            return
        putenv.argtypes, putenv.restype = (ctypes.c_char_p,), ctypes.c_int
        self.data = vars(os.environ)["_data"]
        self.putenv = putenv


def first_init(action: Any, message: Any) -> dict[str, Any] | Reply:
    """The ``value`` of the action's first ``/init`` with code (``action.initialised`` set), or the 403
    refusing it."""
    if action.initialised:
        return 403, {"error": "Cannot initialize the action more than once."}, False
    value = message.get("value") if isinstance(message, dict) else None
    if not isinstance(value, dict) or not value.get("code"):
        return 403, {"error": "Missing main/no code to execute."}, False
    action.initialised = True
    return value


class Action:
    """The initialised action: its entry point, shared by every connection."""

    def __init__(self, workdir: str, site_dirs: list[str], code_max_bytes: int = 0) -> None:
        self.workdir = workdir
        self.code_max_bytes = code_max_bytes
        self.site_dirs = site_dirs
        self.lock = _thread.allocate_lock()
        self.initialised = False
        self.main: Any = None
        self.env = ActivationEnv()
        self.runs = 0

    def init(self, message: Any) -> Reply:
        """Handle ``/init``: load the code once."""
        with self.lock:
            value = first_init(self, message)
            if isinstance(value, tuple):
                return value
            try:
                self.main = self._load(value)
            except MemoryError:
                out_of_memory()
            except Exception as exc:
                import traceback

                traceback.print_exc()
                return 502, {"error": f"Initialization has failed due to: {type(exc).__name__}: {exc}"}, True
            return 200, {"ok": True}, False

    def _load(self, value: dict[str, Any]) -> Any:
        for key, item in (value.get("env") or {}).items():
            os.environ[str(key)] = item if isinstance(item, str) else _text(item)
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

    def run(self, message: Any) -> Reply:
        """Handle ``/run``: call the entry point with ``value``."""
        if not self.initialised or self.main is None:
            return 500, {"error": "no action defined yet"}, False
        if not isinstance(message, dict):
            return 400, {"error": "Error unmarshaling request: not a JSON object"}, False
        self.env.update(message)
        self.runs += 1
        try:
            result = self.main(message.get("value", {}))
        except MemoryError:
            out_of_memory()
        except Exception as exc:
            import traceback

            traceback.print_exc()
            result = {"error": str(exc)}
        if not isinstance(result, dict | list):
            return 502, {"error": "The action did not return a dictionary or array."}, True
        return 200, result, True

    def after_reply(self) -> None:
        """After :data:`IN_PLACE_AFTER` activations, the ``__OW_*`` variables move to buffers rewritten in
        place (:class:`ActivationEnv`)."""
        if self.runs == IN_PLACE_AFTER and self.env.putenv is None:
            self.env.settle()


class Box(list):  # type: ignore[type-arg]
    """Holds a response payload so that :func:`respond` owns the only reference to it."""


class Malformed(ValueError):
    """A request this server cannot frame: answered with 400, then the connection is closed."""


def end_activation() -> None:
    """Write the activation-end sentinel line on fds 1 and 2 (one write each), after what the action left
    in the buffers of ``sys.stdout``/``sys.stderr``; also when the action rebound or closed them."""
    _flush(sys.__stdout__, sys.stdout)  # the original first: it holds what came before a rebinding
    os.write(1, SENTINEL_LINE)
    _flush(sys.__stderr__, sys.stderr)
    os.write(2, SENTINEL_LINE)


def _flush(*streams: Any) -> None:
    for stream in streams:
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):  # gone, closed or not a stream: nothing to flush
            pass


def out_of_memory() -> NoReturn:
    """Report an exhausted memory limit and end the process (the invoker maps exit 137 to an OOM)."""
    try:
        _flush(sys.__stderr__, sys.stderr)
        os.write(2, MARKER_OOM_LINE)  # bytes made at start: nothing to allocate now
        end_activation()
    finally:
        os._exit(EXIT_OOM)


def respond(conn: _socket.socket, status: int, payload: Any, ended: bool = False) -> None:
    """Send one JSON response; small ones in one write, large ones without copying the body again. When
    ``ended``, the sentinels go out between serialising the payload and sending it (so a result too large
    for the memory limit is reported in the activation's own logs).

    ``payload`` may be a :class:`Box` that this function empties, so a large result is freed as soon as
    it is serialised. A ``MemoryError`` while serialising is the action's OOM."""
    if type(payload) is Box:
        payload = payload.pop()
    try:
        body = DUMPS(payload).encode()
    except MemoryError:
        payload = None
        out_of_memory()
    except (TypeError, ValueError) as exc:
        status, body = (
            502,
            DUMPS({"error": f"The action did not return a dictionary or array: {exc}"}).encode(),
        )
    payload = None  # the result may be large: let it go before sending
    head = (
        f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    if ended:
        end_activation()
    if len(body) < 65536:
        conn.sendall(head + body)
    else:
        conn.sendall(head)
        conn.sendall(body)


def _head_end(buf: bytes, start: int) -> tuple[int, int]:
    """Where the blank line ending a request head starts and the body starts, or ``(-1, -1)``; lines end
    with CRLF or LF."""
    crlf, lf = buf.find(b"\n\r\n", start), buf.find(b"\n\n", start)
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return crlf, crlf + 3
    return (lf, lf + 2) if lf >= 0 else (-1, -1)


def _content_length(head: bytes) -> int:
    at = head.lower().find(b"\ncontent-length:")
    if at < 0:
        return 0
    stop = head.find(b"\n", at + 16)
    raw = head[at + 16 : stop if stop >= 0 else len(head)].strip()
    if not raw.isdigit():
        raise Malformed(f"bad Content-Length: {raw[:32]!r}")
    return int(raw)


def read_request(conn: _socket.socket, buf: bytes) -> tuple[bytes, bytes, bytes | bytearray, bytes] | None:
    """The next request on ``conn``, starting with the bytes in ``buf``: ``(method, path, body, the bytes
    after it)``, or None when the peer closes the connection between requests.

    One ``recv`` per request when the invoker's request arrives in one piece; a large body is received
    into its own buffer, without copies. Raises :class:`Malformed` for a request line that is not
    ``METHOD PATH VERSION``, a head over :data:`HEAD_MAX` bytes or a bad ``Content-Length``."""
    scanned = 0
    blank, start = _head_end(buf, 0)
    while blank < 0:
        if len(buf) > HEAD_MAX:
            raise Malformed(f"request head longer than {HEAD_MAX} bytes")
        data = conn.recv(65536)
        if not data:
            if buf.strip():
                raise Malformed("connection closed in the request head")
            return None
        scanned, buf = max(0, len(buf) - 2), buf + data
        blank, start = _head_end(buf, scanned)
    if blank > HEAD_MAX:
        raise Malformed(f"request head longer than {HEAD_MAX} bytes")
    head = buf[:blank]
    stop = head.find(b"\n")
    parts = head[: stop if stop >= 0 else len(head)].split()
    if len(parts) != 3:
        raise Malformed("malformed request line")
    length = _content_length(head)
    have = len(buf) - start
    if have >= length:
        return parts[0], parts[1], buf[start : start + length], buf[start + length :]
    body = bytearray(length)
    with memoryview(body) as view:
        view[:have] = buf[start:]
        while have < length:
            got = conn.recv_into(view[have:])
            if not got:
                raise ConnectionResetError("connection closed in the request body")
            have += got
    return parts[0], parts[1], body, b""


def serve(conn: _socket.socket, action: Handler) -> None:
    """Serve one keep-alive connection until the peer closes it."""
    if conn.family != _socket.AF_UNIX:
        conn.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
    buf = b""
    try:
        while True:
            try:
                request = read_request(conn, buf)
            except Malformed as exc:
                respond(conn, 400, {"error": str(exc)})
                return
            if request is None:
                return
            method, path, body, buf = request
            if method != b"POST" or path not in (b"/init", b"/run"):
                respond(conn, 404, {"error": f"no such endpoint: {method.decode()} {path.decode()}"})
                continue
            try:
                message = LOADS(body) if body else {}
            except ValueError as exc:
                respond(conn, 400, {"error": f"Error unmarshaling request: {exc}"})
                continue
            reply = Box(action.init(message) if path == b"/init" else action.run(message))
            ended = reply.pop()
            respond(conn, reply.pop(0), reply, ended)
            action.after_reply()
    except (ConnectionError, OSError):
        return
    finally:
        conn.close()


def serve_forever(listen_fd: int, action: Handler) -> None:
    """Accept connections on the inherited listening socket, each served by its own thread, until the
    invoker goes (:func:`exit_with_parent`). Through ``_socket`` and ``_thread``: the ``socket`` module
    imports ``enum`` and ``selectors`` (~3.6 ms), ``threading`` imports ``collections`` and ``functools``
    (~3 ms), together about half of a cold /init + /run. These threads end with the process (daemons)."""
    listener = _socket.socket(fileno=listen_fd)
    _thread.start_new_thread(exit_with_parent, ())
    while True:
        fd, _ = listener._accept()  # type: ignore[attr-defined]  # what socket.socket.accept wraps
        conn = _socket.socket(listener.family, listener.type, listener.proto, fileno=fd)
        _thread.start_new_thread(serve, (conn, action))


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
    serve_forever(fd, Action(workdir, [d for d in sites.split(os.pathsep) if d], code_max))


if __name__ == "__main__":
    main()
