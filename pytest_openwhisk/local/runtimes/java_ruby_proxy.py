"""The Java and Ruby runtimes of the embedded OpenWhisk: an actionloop-style proxy over a language launcher.

Started by the invoker as ``python -I -S java_ruby_proxy.py LISTEN_FD WORKDIR CODE_MAX_BYTES FAMILY
LAUNCHER...``. It serves ``/init`` and ``/run`` on the inherited listening socket with the Python
runtime's own HTTP code (``python_runtime.serve``: the same channel, keep-alive and sentinel handling) and,
like OpenWhisk's actionloop proxy (used by its Ruby runtime), drives one long-lived launcher process:

* the launcher (the JVM, ruby) starts with the proxy, so a stem cell holds a booted runtime;
* ``/init`` (once; a second is refused with 403) writes the code into ``WORKDIR/action`` (Java: a base64
  jar, or, as an extension of the embedded server, Java source compiled with ``javac`` against Gson; Ruby:
  ``main.rb`` or a base64 zip holding it), then sends the launcher ``{"init": {"dir", "main", "env"}}`` and
  waits for its ``{"ok": true}`` on fd 3; a launcher that fails or exits instead fails the init (502,
  details in the logs).
* ``/run`` writes the request (one JSON line) to the launcher's stdin and reads one JSON line from fd 3;
  the launcher sets ``__OW_<KEY>`` env vars for the other keys, calls the entry point and flushes its
  output first, so the sentinel this proxy then writes on stdout and stderr (just before the response)
  ends the activation's logs.
* a launcher that dies during a run is a developer error (``command exited``); one that reports an
  exhausted heap (exit 137 and the OOM marker) ends this proxy with 137 too, which the invoker maps to an OOM.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import python_runtime

TYPE_CHECKING = False  # the launcher starts once this module is loaded: only what boot needs is imported
if TYPE_CHECKING:  # here (~10 ms less); the code-unpacking modules come with /init, while it boots
    import zipfile
    from typing import Any, BinaryIO

EXIT_OOM = 137
GSON_JAR = "/usr/share/java/gson.jar"


class LoopAction:
    """The initialised action: a launcher process fed one JSON line per activation."""

    def __init__(self, workdir: str, family: str, launcher: list[str], code_max_bytes: int) -> None:
        self.action_dir = os.path.join(workdir, "action")
        self.family = family
        self.launcher = launcher
        self.code_max_bytes = code_max_bytes
        self.lock = threading.Lock()
        self.initialised = False
        self.ready = False
        self.child: subprocess.Popen[bytes] | None = None
        self.results: BinaryIO | None = None

    def boot(self) -> None:
        """Start the launcher now (it waits for the init line), so it boots while the container is idle."""
        read_end, write_end = os.pipe()
        try:
            self.child = subprocess.Popen(
                self.launcher,
                stdin=subprocess.PIPE,
                pass_fds=(write_end,),
                env={**os.environ, "__OW_RESULT_FD": str(write_end)},
            )
        finally:
            os.close(write_end)
        self.results = os.fdopen(read_end, "rb")

    # -- /init -----------------------------------------------------------------------------------------
    def init(self, message: Any) -> python_runtime.Reply:
        """Handle ``/init``: unpack the code and start the launcher once."""
        with self.lock:
            value = python_runtime.first_init(self, message)
            if isinstance(value, tuple):
                return value
            try:
                main = self._unpack(value)
                self._start(main, value.get("env") or {})
            except (OSError, ValueError, subprocess.SubprocessError) as exc:
                sys.stderr.write(f"{exc}\n")
                return 502, {"error": f"Initialization has failed due to: {exc}"}, True
            return 200, {"ok": True}, False

    def _unpack(self, value: dict[str, Any]) -> str:
        os.makedirs(self.action_dir, exist_ok=True)
        code, binary = str(value["code"]), bool(value.get("binary"))
        main = str(value.get("main") or ("main" if self.family == "ruby" else ""))
        if self.family == "java":
            if not main:
                raise ValueError("Java actions need 'main': the class (or Class#method) to call")
            if binary:
                data = _b64(code, "jar")
                self._check_zip(data, "jar")
                with open(os.path.join(self.action_dir, "action.jar"), "wb") as handle:
                    handle.write(data)
            else:
                self._compile_java(code, main)
            return main
        if binary:
            data = _b64(code, "zip")
            archive = self._check_zip(data, "zip")
            archive.extractall(self.action_dir)
            if not os.path.isfile(os.path.join(self.action_dir, "main.rb")):
                raise ValueError(
                    f"the zip file has no main.rb at its root; put the file defining {main}(args) in main.rb"
                )
        else:
            with open(os.path.join(self.action_dir, "main.rb"), "w", encoding="utf-8") as handle:
                handle.write(code)
        return main

    def _check_zip(self, data: bytes, what: str) -> zipfile.ZipFile:
        import io
        import zipfile

        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile as exc:
            raise ValueError(f"the code is not a base64-encoded {what} file ({exc})") from None
        unpacked = sum(info.file_size for info in archive.infolist())
        if self.code_max_bytes and unpacked > self.code_max_bytes:
            raise ValueError(
                f"the {what} file unpacks to {unpacked} bytes, more than the allowed {self.code_max_bytes} "
                "bytes; ship less code or raise the pool's code size limit"
            )
        return archive

    def _compile_java(self, source: str, main: str) -> None:
        """Compile plain Java source (an extension: OpenWhisk's java runtime takes jars only)."""
        import shutil

        javac = shutil.which("javac")
        if javac is None:
            raise ValueError(
                "plain Java source needs javac (apt-get install default-jdk-headless); "
                "or deploy a jar (binary) as OpenWhisk requires"
            )
        src = os.path.join(self.action_dir, "src")
        os.makedirs(src, exist_ok=True)
        cls = main.split("#", 1)[0]
        path = os.path.join(src, cls.rsplit(".", 1)[-1] + ".java")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(source)
        out = os.path.join(self.action_dir, "classes")
        done = subprocess.run(
            [javac, "-nowarn", "-encoding", "UTF-8", "-cp", GSON_JAR, "-d", out, path],
            capture_output=True,
            check=False,
            timeout=120,
        )
        if done.returncode != 0:
            sys.stderr.write(done.stderr.decode("utf-8", "replace"))
            raise ValueError(f"javac failed to compile {os.path.basename(path)} (see the logs)")

    def _start(self, main: str, env: dict[str, Any]) -> None:
        child, results = self.child, self.results
        if child is None or results is None or child.stdin is None:
            raise ValueError(f"the {self.family} launcher did not start")
        strings = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in env.items()}
        line = json.dumps({"init": {"dir": self.action_dir, "main": main, "env": strings}})
        try:
            child.stdin.write(line.encode() + b"\n")
            child.stdin.flush()
            ack = results.readline()
        except (BrokenPipeError, OSError):
            ack = b""
        if not ack:
            code = child.wait()
            self._died(code)
            raise ValueError(f"the {self.family} launcher exited with code {code} (see the logs)")
        try:
            answer = json.loads(ack)
        except ValueError:
            answer = None
        if answer != {"ok": True}:
            error = (
                answer.get("error") if isinstance(answer, dict) else ack.decode("utf-8", "replace").strip()
            )
            raise ValueError(f"the {self.family} launcher failed: {error}")
        self.ready = True

    # -- /run ------------------------------------------------------------------------------------------
    def run(self, message: Any) -> python_runtime.Reply:
        """Handle ``/run``: one line in, one line out, then the sentinels (written with the response)."""
        with self.lock:
            child, results = self.child, self.results
            if child is None or results is None or not self.ready:
                return 500, {"error": "no action defined yet"}, False
            if child.poll() is not None:
                return 500, {"error": "command exited"}, False
            if not isinstance(message, dict):
                return 400, {"error": "Error unmarshaling request: not a JSON object"}, False
            assert child.stdin is not None
            try:
                child.stdin.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
                child.stdin.flush()
                line = results.readline()
            except (BrokenPipeError, OSError):
                line = b""
            if not line:
                self._died(child.wait())
                return 502, {"error": "command exited"}, True
            if line.startswith(b"!"):  # the launcher's failure line: the runtime's 502 (a developer error)
                return 502, {"error": line[1:].decode("utf-8", "replace").strip()}, True
            try:
                result = json.loads(line)
            except ValueError:
                result = None
            if not isinstance(result, dict | list):
                return 502, {"error": "The action did not return a dictionary or array."}, True
            return 200, result, True

    def after_reply(self) -> None:
        """Nothing to tidy: the launcher sets its own environment."""

    def _died(self, code: int) -> None:
        """A launcher that ran out of heap takes the proxy with it (exit 137: the invoker's OOM)."""
        if code == EXIT_OOM:
            python_runtime.end_activation()
            os._exit(EXIT_OOM)


def _b64(code: str, what: str) -> bytes:
    import base64
    import binascii

    try:
        return base64.b64decode(code, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"the code is not a base64-encoded {what} file ({exc})") from None


def main() -> None:
    """Entry point: accept connections on the inherited socket forever."""
    fd, workdir, code_max, family = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    launcher = sys.argv[5:]
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    action = LoopAction(workdir, family, launcher, code_max)
    action.boot()
    python_runtime.serve_forever(fd, action)


if __name__ == "__main__":
    main()
