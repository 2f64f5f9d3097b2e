"""Runtime kinds of the embedded OpenWhisk and the ``runtimes`` manifest served by ``GET /``.

Every Python kind runs on the host interpreter (``sys.executable``), every Node.js kind on the host
``node``, ``java:8`` on the host JVM (with Gson, ``/usr/share/java/gson.jar``) and ``ruby:2.5`` on the host
``ruby``; the manifest says so in each entry's ``image`` (prefix ``local``) and in an extra ``interpreter``
field, so benchmark results never pretend to use the official images. Java and Ruby kinds are offered only
when their toolchain is installed (``bash .ci/setup``); their actions run under an actionloop-style proxy
(``runtimes/java_ruby_proxy.py``) that drives a launcher (``runtimes/java_launcher.java``,
``runtimes/ruby_launcher.rb``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

PYTHON_DEFAULT = "python:3.11"
NODEJS_DEFAULT = "nodejs:20"
JAVA_DEFAULT = "java:8"
RUBY_DEFAULT = "ruby:2.5"
GSON_JAR = "/usr/share/java/gson.jar"
RUNTIMES_DIR = Path(__file__).resolve().parent / "runtimes"
BLACKBOX_REFUSED = (
    "'blackbox' (Docker image) actions need a container runtime; the embedded OpenWhisk cannot run "
    "image {image!r}. Run them on a real OpenWhisk: --ow-cluster=kind or --ow-cluster=existing"
)


def java_available() -> bool:
    """Whether ``java:8`` can run here: a JDK (``java``, ``javac``) and Gson (``libgoogle-gson-java``)."""
    return bool(shutil.which("java") and shutil.which("javac") and os.path.isfile(GSON_JAR))


#: accepted kinds (after resolving ``<family>:default``), python first
PYTHON_KINDS: tuple[str, ...] = ("python:3", "python:3.10", "python:3.11", "python:3.12")
NODEJS_KINDS: tuple[str, ...] = ("nodejs:18", "nodejs:20")
JAVA_KINDS: tuple[str, ...] = (JAVA_DEFAULT,) if java_available() else ()
RUBY_KINDS: tuple[str, ...] = (RUBY_DEFAULT,) if shutil.which("ruby") else ()
KINDS: tuple[str, ...] = PYTHON_KINDS + NODEJS_KINDS + JAVA_KINDS + RUBY_KINDS
FAMILIES = ("nodejs", "python", "java", "ruby")
#: kinds whose actions must name their entry point (``requireMain`` in OpenWhisk's manifest)
REQUIRE_MAIN = frozenset(JAVA_KINDS)

_ALIASES = {
    "python:default": PYTHON_DEFAULT,
    "nodejs:default": NODEJS_DEFAULT,
    "java:default": JAVA_DEFAULT,
    "ruby:default": RUBY_DEFAULT,
}


def family(kind: str) -> str:
    """The runtime family of a resolved kind: ``"python"``, ``"nodejs"``, ``"java"`` or ``"ruby"``."""
    return resolve_kind(kind).split(":", 1)[0]


def offered(allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """All of :data:`KINDS`, or only those in ``allowed`` (``LocalConfig.kinds``), in KINDS order."""
    if allowed is None:
        return KINDS
    return tuple(k for k in KINDS if k in allowed)


def check_allowed(allowed: tuple[str, ...] | None) -> None:
    """Refuse a ``LocalConfig.kinds`` value naming a kind this platform does not have."""
    if allowed is None:
        return
    unknown = [k for k in allowed if k not in KINDS]
    if unknown or not allowed:
        what = f"unknown kind(s) {', '.join(repr(k) for k in unknown)}" if unknown else "no kind"
        raise ValueError(
            f"LocalConfig.kinds names {what}; use None (every kind) or a tuple of: {', '.join(KINDS)}"
        )


def _default_of(fam: str, kinds: tuple[str, ...]) -> str | None:
    """The family's default kind among ``kinds`` (the manifest default, else the first offered one)."""
    preferred = _ALIASES[f"{fam}:default"]
    if preferred in kinds:
        return preferred
    return next((k for k in kinds if k.split(":", 1)[0] == fam), None)


def resolve_kind(kind: str, allowed: tuple[str, ...] | None = None) -> str:
    """Map a requested kind to the kind stored on the action (``python:default`` -> ``python:3.11``).

    Raises ``ValueError`` with OpenWhisk's own message for kinds this platform cannot run
    (``blackbox``, typos, kinds left out of ``allowed``...).
    """
    kinds = offered(allowed)
    if kind in kinds:
        return kind
    if kind in _ALIASES:
        resolved = _default_of(kind.split(":", 1)[0], kinds)
        if resolved is not None:
            return resolved
    aliases = [a for a in _ALIASES if _default_of(a.split(":", 1)[0], kinds) is not None]
    if kind == "blackbox":
        raise ValueError(BLACKBOX_REFUSED.format(image="(none)"))
    valid = ", ".join((*kinds, *aliases))
    raise ValueError(
        f"The specified runtime '{kind}' is not supported by this platform. Valid values are: {valid}."
    )


def interpreter(kind: str) -> list[str]:
    """The command that runs the runtime proxy of ``kind`` (without the proxy script).

    Java and Ruby kinds run under a Python proxy (``java_ruby_proxy.py``), which starts the launcher
    (:func:`loop_command`)."""
    if family(kind) in ("python", "java", "ruby"):
        return [sys.executable]
    return [shutil.which("node") or "node"]


def java_launcher_classes() -> str:
    """The folder holding the compiled Java launcher (compiled once per launcher version, cached).

    Under ``$XDG_CACHE_HOME`` (or ``~/.cache``)``/pytest-openwhisk``, world-readable so the sandbox's
    unprivileged uid can load it; compiled again when the source changes."""
    source = RUNTIMES_DIR / "java_launcher.java"
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pytest-openwhisk"
    target = cache / f"java-launcher-{digest}"
    if (target / "JavaLauncher.class").is_file():
        return str(target)
    javac = shutil.which("javac")
    if javac is None:
        raise FileNotFoundError(
            "javac is not installed; apt-get install default-jdk-headless (or bash .ci/setup)"
        )
    building = cache / f".build-{digest}-{os.getpid()}"
    building.mkdir(parents=True, exist_ok=True, mode=0o755)
    done = subprocess.run(
        [javac, "-nowarn", "-encoding", "UTF-8", "-cp", GSON_JAR, "-d", str(building), str(source)],
        check=False,
        capture_output=True,
        timeout=300,
    )
    if done.returncode != 0:  # an OSError: the invoker reports a failed container start
        shutil.rmtree(building, ignore_errors=True)
        detail = done.stderr.decode("utf-8", "replace")[-500:]
        raise OSError(f"javac could not compile the Java launcher ({source}): {detail}; is {GSON_JAR} there?")
    for path in (cache, building, *building.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)
    try:
        building.rename(target)
    except OSError:  # another process won the race: use its copy
        shutil.rmtree(building, ignore_errors=True)
    return str(target)


def loop_command(fam: str, memory_mb: int) -> list[str]:
    """The launcher command the Java/Ruby proxy starts at once (the action comes later, on its stdin).

    Java: a heap of 3/4 of the action's memory (the rest for metaspace, code cache, threads), serial GC and
    C1 only (fast start, small footprint); the whole process tree stays under the pool's memory control."""
    if fam == "java":
        java = shutil.which("java") or "java"
        heap = max(16, memory_mb * 3 // 4)
        return [
            java,
            f"-Xmx{heap}m",
            f"-Xms{min(heap, 16)}m",
            "-Xss512k",
            "-XX:MaxMetaspaceSize=64m",
            "-XX:ReservedCodeCacheSize=32m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-XX:-UsePerfData",
            "-Xshare:auto",
            "--add-opens=java.base/java.util=ALL-UNNAMED",
            "-cp",
            os.pathsep.join((java_launcher_classes(), GSON_JAR)),
            "JavaLauncher",
        ]
    if fam == "ruby":
        # without RubyGems: the standard library (json, base64, ...) still loads; boot 25 ms instead of 110 ms
        return [shutil.which("ruby") or "ruby", "--disable-gems", str(RUNTIMES_DIR / "ruby_launcher.rb")]
    raise ValueError(f"no launcher for runtime family {fam!r}; use java or ruby")


def _python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}"


def _entry(kind: str, default: bool) -> dict[str, Any]:
    fam, version = kind.split(":", 1)
    if fam == "python":
        image = {"prefix": "local", "name": f"python3-host-{_python_version()}", "tag": "latest"}
        runs_on = f"host python {_python_version()} ({sys.executable})"
    elif fam in ("java", "ruby"):
        program = shutil.which(fam)
        image = {"prefix": "local", "name": f"{fam}-host", "tag": "latest"}
        runs_on = f"host {fam} ({program}) under the actionloop-style proxy"
    else:
        node = shutil.which("node")
        image = {"prefix": "local", "name": f"nodejs-host-v{version}", "tag": "latest"}
        runs_on = f"host node ({node})" if node else "host node (not installed: run bash .ci/setup)"
    entry: dict[str, Any] = {
        "kind": kind,
        "image": image,
        "default": default,
        "deprecated": False,
        "sentinelledLogs": True,
        "requireMain": kind in REQUIRE_MAIN,
        "interpreter": runs_on,
    }
    if kind == NODEJS_DEFAULT:
        entry["stemCells"] = [{"initialCount": 2, "memory": "256 MB"}]
    return entry


def manifest_json(allowed: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The ``runtimes`` object of ``GET /``: family -> list of kind entries in OpenWhisk's shape."""
    kinds = offered(allowed)
    out: dict[str, Any] = {}
    for fam in FAMILIES:
        default = _default_of(fam, kinds)
        entries = [_entry(k, k == default) for k in kinds if k.split(":", 1)[0] == fam]
        if entries:
            out[fam] = entries
    return out
