"""Fixtures of the catalogue tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_openwhisk.catalog import FunctionSpec, load_catalog


@pytest.fixture(scope="session")
def catalog() -> dict[str, FunctionSpec]:
    """The shipped function catalogue."""
    return load_catalog()


@pytest.fixture(scope="session")
def direct_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Work folder shared by the direct runs (extracted zips, cached builds)."""
    return tmp_path_factory.mktemp("direct")
