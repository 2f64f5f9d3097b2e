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
