"""The public API of ``pytest_openwhisk``: sorted, complete, importable, and documented."""

from __future__ import annotations

import inspect

import pytest_openwhisk


def test_all_is_sorted_and_unique() -> None:
    names = pytest_openwhisk.__all__
    assert names == sorted(names)
    assert len(names) == len(set(names))


def test_every_public_name_exists_and_is_documented() -> None:
    for name in pytest_openwhisk.__all__:
        value = getattr(pytest_openwhisk, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), f"{name} has no docstring"


def test_no_public_name_is_missing_from_all() -> None:
    exported = {
        name
        for name, value in vars(pytest_openwhisk).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert exported <= set(pytest_openwhisk.__all__)


def test_core_api_is_exported() -> None:
    for name in ("OpenWhiskClient", "ActionFactory", "Action", "Settings", "load_backend", "ApiError"):
        assert name in pytest_openwhisk.__all__


def test_version_matches_distribution() -> None:
    from importlib.metadata import version

    assert pytest_openwhisk.__version__ == version("pytest-openwhisk")


def test_the_embedded_server_imports_no_test_or_measuring_stack() -> None:
    """``python -m pytest_openwhisk.local serve`` runs in its own process: importing it (and the package
    root) must not load pytest, numpy, requests or pytest-benchmark (startup time, memory)."""
    import subprocess
    import sys

    heavy = ("pytest", "_pytest", "numpy", "requests", "pytest_benchmark")
    code = (
        "import sys\n"
        "import pytest_openwhisk, pytest_openwhisk.local.server, pytest_openwhisk.local.__main__\n"
        "assert pytest_openwhisk.__version__\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_public_names_load_on_first_use() -> None:
    """The exports are lazy, but each one is the defining module's object."""
    from pytest_openwhisk.measure.compare import FingerprintWarning
    from pytest_openwhisk.options import Settings

    assert pytest_openwhisk.Settings is Settings
    assert pytest_openwhisk.FingerprintWarning is FingerprintWarning
    assert "Settings" in dir(pytest_openwhisk)
