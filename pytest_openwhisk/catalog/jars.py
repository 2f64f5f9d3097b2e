"""Jars of ``java:*`` catalogue functions: ``javac`` against Debian's Gson, a deterministic jar, a cache.

A ``java:*`` manifest names a ``.java`` file as its ``code``; at deploy time it is compiled with the
host's ``javac`` (``-cp /usr/share/java/gson.jar``, Debian's ``libgoogle-gson-java``) and its classes are
zipped into a jar with :func:`pytest_openwhisk.zips.deterministic_zip` (sorted entries, fixed timestamps),
which OpenWhisk's ``java:8`` runtime takes as binary code with ``main`` = the class name.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from pytest_openwhisk.catalog.errors import ManifestError
from pytest_openwhisk.catalog.manifest import FunctionSpec
from pytest_openwhisk.errors import ToolMissing
from pytest_openwhisk.zips import deterministic_zip

#: Gson as Debian installs it (``apt-get install libgoogle-gson-java``)
GSON_JAR = "/usr/share/java/gson.jar"
#: the jar's manifest (a jar is a zip whose first entry is usually this file)
JAR_MANIFEST = b"Manifest-Version: 1.0\nCreated-By: pytest-openwhisk\n\n"
#: seconds one ``javac`` run may take on a busy machine
JAVAC_TIMEOUT = 300.0


def java_toolchain(gson: str = GSON_JAR) -> tuple[str, str]:
    """``(javac, gson.jar)`` of this host; :class:`ToolMissing` naming the Debian package otherwise."""
    javac = shutil.which("javac")
    if javac is None:
        raise ToolMissing(
            "javac is not installed, so java:* catalogue functions cannot be compiled; "
            "apt-get install default-jdk-headless (or bash .ci/setup)"
        )
    if not os.path.isfile(gson):
        raise ToolMissing(
            f"{gson} does not exist, so java:* catalogue functions cannot be compiled against Gson; "
            "apt-get install libgoogle-gson-java (or bash .ci/setup)"
        )
    return javac, gson


def _java_source(spec: FunctionSpec) -> Path:
    if not spec.language == "java" or spec.code is None or spec.code.suffix != ".java":
        raise ManifestError(
            f"{spec.manifest_path}: {spec.name} is not a java:* function with a .java 'code' file "
            f"(kind {spec.kind!r}, code {str(spec.code)!r})"
        )
    return spec.code


def build_jar(spec: FunctionSpec, *, gson: str = GSON_JAR) -> bytes:
    """Compile ``spec``'s ``.java`` file against Gson and return a deterministic jar of its classes."""
    source = _java_source(spec)
    javac, gson_jar = java_toolchain(gson)
    with tempfile.TemporaryDirectory(prefix="pytest-openwhisk-javac-") as tmp:
        classes = Path(tmp)
        command = [javac, "-nowarn", "-encoding", "UTF-8", "-cp", gson_jar, "-d", str(classes), str(source)]
        try:
            done = subprocess.run(command, capture_output=True, check=False, timeout=JAVAC_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise ManifestError(
                f"{spec.manifest_path}: javac did not compile {source.name} within {JAVAC_TIMEOUT:g} s; "
                "retry on a less busy machine"
            ) from None
        if done.returncode != 0:
            detail = done.stderr.decode("utf-8", "replace").strip()[-1500:]
            raise ManifestError(
                f"{spec.manifest_path}: field 'code': javac could not compile {str(source)!r} "
                f"(exit {done.returncode}): {detail}; fix the Java source"
            )
        members: dict[str, Path | bytes] = {"META-INF/MANIFEST.MF": JAR_MANIFEST}
        for path in sorted(classes.rglob("*.class")):
            members[path.relative_to(classes).as_posix()] = path
        if len(members) == 1:
            raise ManifestError(f"{spec.manifest_path}: javac produced no class from {str(source)!r}")
        return deterministic_zip(members)


def jar_path(spec: FunctionSpec, cache_dir: str | Path | None = None, *, gson: str = GSON_JAR) -> Path:
    """Build (once per source and Gson) the function's jar under ``cache_dir`` and return its path.

    The file ends in ``.zip`` (a jar is a zip archive): the ``ow_action`` fixture sends a ``.zip`` as
    binary code with the kind it is given.
    """
    source = _java_source(spec)
    javac, gson_jar = java_toolchain(gson)
    digest = hashlib.sha256(source.read_bytes())
    gson_stat = os.stat(gson_jar)
    digest.update(f"{os.path.realpath(javac)}:{gson_stat.st_size}:{gson_stat.st_mtime_ns}".encode())
    base = Path(cache_dir) if cache_dir is not None else Path(tempfile.gettempdir()) / "pytest-openwhisk-zips"
    base.mkdir(parents=True, exist_ok=True)
    target = base / f"{spec.name}-{digest.hexdigest()[:16]}.jar.zip"
    if not target.is_file():
        partial = target.with_suffix(f".{os.getpid()}.part")
        partial.write_bytes(build_jar(spec, gson=gson))
        partial.replace(target)
    return target
