"""Packages for zipped Python actions built for the cluster's runtime image, not for this host.

A catalogue zip bundles packages (e.g. Pillow) into ``virtualenv/lib/pythonX.Y/site-packages``. The
embedded server runs them on the host interpreter, but on a cluster they run in the upstream image of
their kind (``openwhisk/action-python-v3.11``: CPython 3.11, glibc x86-64), so binary wheels must be
chosen for that Python and platform: ``pip download --only-binary=:all: --platform ... --python-version
... --implementation cp --abi cpXY`` (every manylinux tag up to the image's glibc) and unpacked, whatever
the host runs.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

from pytest_openwhisk.errors import ConfigError
from pytest_openwhisk.kube.runtimes import PYTHON_TARGETS


def target_of(kind: str) -> tuple[str, str]:
    """(Python version, wheel platform) of the upstream image of ``kind``; ConfigError naming the kinds."""
    try:
        return PYTHON_TARGETS[kind]
    except KeyError:
        raise ConfigError(
            f"no Python runtime image is known for kind {kind!r}; zipped Python actions with "
            f"binary packages need one of {', '.join(PYTHON_TARGETS)}"
        ) from None


#: the legacy manylinux names and the glibc they stand for (PEP 600)
_LEGACY_MANYLINUX = {"manylinux2014": 17, "manylinux2010": 12, "manylinux1": 5}


def compatible_platforms(platform: str) -> list[str]:
    """Every wheel platform tag that runs on ``platform`` (``manylinux_2_36_x86_64``: ``manylinux_2_36`` down
    to ``manylinux_2_5`` and the legacy ``manylinux2014``/``2010``/``1`` names), newest first.

    pip takes ``--platform`` tags literally, so an image's glibc must be spelled out as every tag it can
    run: Pillow 13, for one, publishes only ``manylinux_2_28`` wheels for x86-64.
    """
    prefix, _, arch = platform.partition("_2_")
    glibc, _, machine = arch.partition("_")
    if prefix != "manylinux" or not glibc.isdigit():
        return [platform]
    newest = int(glibc)
    tags = [f"manylinux_2_{minor}_{machine}" for minor in range(newest, 4, -1)]
    return tags + [f"{name}_{machine}" for name, minor in _LEGACY_MANYLINUX.items() if minor <= newest]


def pip_download_command(
    requirements: Sequence[str], kind: str, dest: Path, find_links: Sequence[Path] = (), index: bool = True
) -> list[str]:
    """The ``pip download`` command fetching binary wheels of ``requirements`` for the image of ``kind``."""
    version, platform = target_of(kind)
    abi = "cp" + version.replace(".", "")
    argv = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--disable-pip-version-check",
        "--no-input",
        "--only-binary=:all:",
        *[arg for tag in compatible_platforms(platform) for arg in ("--platform", tag)],
        "--python-version",
        version,
        "--implementation",
        "cp",
        "--abi",
        abi,
        "--dest",
        str(dest),
    ]
    if not index:
        argv.append("--no-index")
    for folder in find_links:
        argv += ["--find-links", str(folder)]
    return [*argv, *requirements]


def download_wheels(
    requirements: Sequence[str],
    kind: str,
    dest: Path,
    *,
    find_links: Sequence[Path] = (),
    index: bool = True,
    timeout: float = 600.0,
) -> list[Path]:
    """Download the wheels (with dependencies) for the image of ``kind`` into ``dest``; their paths."""
    dest.mkdir(parents=True, exist_ok=True)
    argv = pip_download_command(requirements, kind, dest, find_links, index)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-6:])
        version, platform = target_of(kind)
        raise ConfigError(
            f"no binary wheels of {', '.join(requirements)} for Python {version} on {platform} or older "
            f"(kind {kind}): {tail}; pin a version that publishes such wheels"
        )
    return sorted(dest.glob("*.whl"))


def wheel_members(wheels: Sequence[Path], site: str) -> dict[str, bytes]:
    """Archive name -> content of every file of ``wheels`` under ``site`` (the bundle's site-packages).

    ``*.data/`` folders of wheels (scripts, headers) are left out: actions import packages only.
    """
    members: dict[str, bytes] = {}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            for info in archive.infolist():
                top = info.filename.split("/", 1)[0]
                if info.is_dir() or top.endswith(".data"):
                    continue
                members[f"{site}/{info.filename}"] = archive.read(info)
    return members


def site_packages(kind: str) -> str:
    """``virtualenv/lib/pythonX.Y/site-packages`` for the Python of ``kind``'s image."""
    version, _ = target_of(kind)
    return f"virtualenv/lib/python{version}/site-packages"


def requirement_of(module: str) -> str:
    """The pinned requirement providing ``module`` in this environment (``PIL`` -> ``pillow==11.0.0``), so the
    cluster bundle holds the version the tests ran with locally."""
    import importlib.metadata

    dists = importlib.metadata.packages_distributions().get(module) or [module]
    name = dists[0]
    try:
        return f"{name}=={importlib.metadata.version(name)}"
    except importlib.metadata.PackageNotFoundError:
        return name


def cluster_bundle(
    modules: Sequence[str], kind: str, cache_dir: Path, *, find_links: Sequence[Path] = (), index: bool = True
) -> dict[str, bytes]:
    """Site-packages members of a zipped action's ``modules`` built for the image of ``kind``."""
    requirements = [requirement_of(module) for module in modules]
    folder = cache_dir / kind.replace(":", "-") / "-".join(sorted(requirements)).replace("=", "")
    wheels = sorted(folder.glob("*.whl")) if folder.is_dir() else []
    if not wheels:
        wheels = download_wheels(requirements, kind, folder, find_links=find_links, index=index)
    return wheel_members(wheels, site_packages(kind))
