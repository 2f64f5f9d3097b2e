"""Catalogue zips bundle packages through the backend's ``bundle_packages`` (kind/existing: wheels for the
cluster's runtime image), reached from the ``ow_action`` fixture; the embedded backend bundles locally."""

from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_openwhisk.backends.base import BaseBackend
from pytest_openwhisk.backends.kind import KindBackend
from pytest_openwhisk.catalog import deploy, load_catalog, zip_members
from pytest_openwhisk.catalog.manifest import DEFAULT_ROOT
from pytest_openwhisk.options import Settings

SITE = "virtualenv/lib/python3.11/site-packages"


class ClusterBundler:
    """Stands in for kind/existing ``bundle_packages``: records its calls, returns 'cluster' members."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[str, ...], Path]] = []

    def __call__(self, kind: str, modules: Sequence[str], cache_dir: Path) -> Mapping[str, bytes]:
        self.calls.append((kind, tuple(modules), cache_dir))
        return {
            f"{SITE}/PIL/__init__.py": b"BUILT_FOR = 'cluster'\n",
            f"{SITE}/PIL/_imagingft.cpython-311-x86_64-linux-gnu.so": b"excluded by the manifest",
        }


class Factory:
    """Just enough of ``ActionFactory`` for ``catalog.deploy``: records what would be deployed."""

    client = None

    def __init__(self, bundle_packages: Any) -> None:
        self.bundle_packages = bundle_packages
        self.deployed: list[tuple[str, Path]] = []

    def __call__(self, name: str, source: Path, **options: Any) -> str:
        self.deployed.append((name, source))
        return name


def test_catalogue_zip_takes_the_backends_packages(tmp_path: Path) -> None:
    spec = load_catalog(DEFAULT_ROOT)["thumbnail-python"]
    bundler = ClusterBundler()
    factory = Factory(bundler)
    deploy(factory, spec, cache_dir=tmp_path)  # type: ignore[arg-type]
    [(_, source)] = factory.deployed
    with zipfile.ZipFile(source) as archive:
        names = set(archive.namelist())
        assert archive.read(f"{SITE}/PIL/__init__.py") == b"BUILT_FOR = 'cluster'\n"
    assert bundler.calls == [("python:3.11", ("PIL",), tmp_path / "wheels")]
    assert "virtualenv/bin/activate_this.py" in names
    assert not any("_imagingft" in name for name in names)  # zip.exclude holds for the cluster's build too
    assert not any(name.endswith("PIL/Image.py") for name in names)  # nothing from this interpreter


def test_no_backend_packages_bundles_this_interpreters(tmp_path: Path) -> None:
    pytest.importorskip("PIL")
    spec = load_catalog(DEFAULT_ROOT)["thumbnail-python"]
    members = zip_members(spec, lambda kind, modules, cache: None, tmp_path)
    assert any(name.endswith("site-packages/PIL/Image.py") for name in members)


def test_backends_offer_their_bundles(tmp_path: Path) -> None:
    """kind/existing build for the cluster's image; the defaults (embedded server) bundle locally."""
    assert BaseBackend(Settings(), tmp_path).bundle_packages("python:3.11", ["PIL"], tmp_path) is None
    kind = KindBackend(Settings(cluster="kind"), tmp_path)
    assert kind.bundle_packages.__func__ is not BaseBackend.bundle_packages  # type: ignore[attr-defined]


def test_ow_action_carries_the_backends_bundler(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_bundler(ow_cluster, ow_action):
            assert ow_action.bundle_packages == ow_cluster.bundle_packages
            assert ow_action.bundle_packages("python:3.11", ["PIL"], None) is None  # embedded: local
        """
    )
    result = pytester.runpytest("--ow-local-mode=thread", "--ow-prewarm=none", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
