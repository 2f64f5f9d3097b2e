"""The catalogue and the main suite ship in the wheel and run from an installed copy, outside the checkout.

Builds the wheel once (offline: ``--no-build-isolation``), installs it into a fresh virtualenv (system
site-packages for the dependencies, nothing from the checkout on its path) and works from a folder
outside the checkout: the catalogue loads, the installed ``pytest-openwhisk suite`` command runs part of the
suite (``--benchmark-disable``), ``python -m pytest_openwhisk.suite`` collects all of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv's python with the freshly built wheel installed (and only that copy of the package)."""
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            str(ROOT),
            "-w",
            str(dist),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    [wheel] = dist.glob("pytest_openwhisk-*.whl")
    venv = base / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
        check=True,
        timeout=120,
    )
    python = venv / "bin" / "python"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    return python


def _run(python: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    return subprocess.run(
        [str(python), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_installed_catalogue_is_complete(venv_python: Path, tmp_path: Path) -> None:
    probe = (
        "import json, pytest_openwhisk, pytest_openwhisk.catalog as c\n"
        "specs = c.load_catalog()\n"
        "print(json.dumps({'module': pytest_openwhisk.__file__, 'root': str(c.DEFAULT_ROOT),"
        " 'names': sorted(specs), 'image': (c.DEFAULT_ROOT / 'assets' / 'sample.jpg').is_file()}))\n"
    )
    done = _run(venv_python, tmp_path, "-c", probe)
    assert done.returncode == 0, done.stderr[-2000:]
    info = json.loads(done.stdout)
    site = str(venv_python.parent.parent)
    assert info["module"].startswith(site), info["module"]  # the wheel's copy, not the checkout's
    assert info["root"].startswith(site)
    assert info["root"].endswith("pytest_openwhisk/functions")
    checkout = sorted(p.parent.name for p in (ROOT / "functions").glob("*/manifest.json"))
    assert info["names"] == checkout
    assert info["image"]


def test_installed_command_runs_the_suite(venv_python: Path, tmp_path: Path) -> None:
    command = venv_python.parent / "pytest-openwhisk"  # the wheel's console script
    done = _run(
        venv_python,
        tmp_path,
        str(command),
        "suite",
        "test_functions.py",
        "-k",
        "echo-python or http-endpoint",
        "--benchmark-disable",
        "-p",
        "no:cacheprovider",
        "--ow-local-mode=thread",
        "-q",
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "4 passed" in done.stdout
    assert str(ROOT) not in done.stdout + done.stderr  # nothing was collected from the checkout


def test_installed_suite_runs_as_a_module(venv_python: Path, tmp_path: Path) -> None:
    # python -m pytest_openwhisk.suite = pytest-openwhisk suite = pytest --pyargs pytest_openwhisk.suite
    listing = _run(
        venv_python, tmp_path, "-m", "pytest_openwhisk.suite", "--co", "-q", "-p", "no:cacheprovider"
    )
    assert listing.returncode == 0, listing.stdout[-3000:] + listing.stderr[-2000:]
    collected = [line for line in listing.stdout.splitlines() if "::" in line]
    assert "test_functions.py::test_warm[sentiment]" in collected  # ids relative to the installed suite
    assert any(line.startswith("test_chains.py::") for line in collected)
    assert any(line.startswith("test_concurrency.py::") for line in collected)
    assert str(ROOT) not in listing.stdout + listing.stderr
    where = _run(venv_python, tmp_path, "-c", "import pytest_openwhisk.suite as s; print(s.__file__)")
    assert where.stdout.startswith(str(venv_python.parent.parent)), where.stdout  # the wheel's copy
