"""Zipped actions' packages built for the cluster image (pip download for its Python, platform)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from pytest_openwhisk.errors import ConfigError
from pytest_openwhisk.kube.wheels import (
    cluster_bundle,
    compatible_platforms,
    download_wheels,
    site_packages,
    target_of,
    wheel_members,
)


def make_wheel(folder: Path, tag: str, version: str = "1.0") -> Path:
    """A minimal valid wheel of ``twinpkg`` with binary tag ``tag``."""
    path = folder / f"twinpkg-{version}-{tag}.whl"
    dist = f"twinpkg-{version}.dist-info"
    files = {
        "twinpkg/__init__.py": f"BUILT_FOR = {tag!r}\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: twinpkg\nVersion: {version}\n",
        f"{dist}/WHEEL": f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: {tag}\n",
    }
    record = "".join(f"{name},,\n" for name in files) + f"{dist}/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
        archive.writestr(f"{dist}/RECORD", record)
    return path


@pytest.fixture
def index(tmp_path: Path) -> Path:
    folder = tmp_path / "index"
    folder.mkdir()
    for tag in (
        "cp312-cp312-manylinux2014_x86_64",
        "cp311-cp311-macosx_11_0_arm64",
        "cp311-cp311-manylinux2014_x86_64",
        "cp310-cp310-manylinux2014_x86_64",
    ):
        make_wheel(folder, tag)
    return folder


def test_wheels_are_chosen_for_the_image_not_the_host(index: Path, tmp_path: Path) -> None:
    """Defect 2: python:3.11 gets the CPython 3.11 manylinux wheel, python:3.10 the 3.10 one."""
    for kind, tag in (
        ("python:3.11", "cp311-cp311-manylinux2014_x86_64"),
        ("python:3.10", "cp310-cp310-manylinux2014_x86_64"),
    ):
        wheels = download_wheels(["twinpkg==1.0"], kind, tmp_path / kind, find_links=[index], index=False)
        assert [w.name for w in wheels] == [f"twinpkg-1.0-{tag}.whl"]
        members = wheel_members(wheels, site_packages(kind))
        init = members[f"virtualenv/lib/python{target_of(kind)[0]}/site-packages/twinpkg/__init__.py"]
        assert tag in init.decode()


def test_missing_wheel_names_package_python_and_platform(tmp_path: Path) -> None:
    only312 = tmp_path / "only312"
    only312.mkdir()
    make_wheel(only312, "cp312-cp312-manylinux2014_x86_64")
    with pytest.raises(
        ConfigError, match=r"twinpkg==1\.0 for Python 3\.11 on manylinux_2_36_x86_64 or older"
    ):
        download_wheels(["twinpkg==1.0"], "python:3.11", tmp_path / "out", find_links=[only312], index=False)


def test_unknown_python_kind_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"python:3\.10, python:3\.11"):
        target_of("python:3.12")


def test_cluster_bundle_is_cached(index: Path, tmp_path: Path) -> None:
    first = cluster_bundle(["twinpkg"], "python:3.11", tmp_path / "cache", find_links=[index], index=False)
    assert any(name.endswith("twinpkg/__init__.py") for name in first)
    assert cluster_bundle(["twinpkg"], "python:3.11", tmp_path / "cache", find_links=[], index=False) == first


def test_wheels_built_for_a_newer_glibc_are_chosen(tmp_path: Path) -> None:
    """Pillow 13 publishes x86-64 wheels only as manylinux_2_28; the bookworm image (glibc 2.36) runs them."""
    folder = tmp_path / "index"
    folder.mkdir()
    make_wheel(folder, "cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64")
    make_wheel(folder, "cp311-cp311-manylinux_2_39_x86_64", version="2.0")  # too new for the image
    wheels = download_wheels(["twinpkg"], "python:3.11", tmp_path / "out", find_links=[folder], index=False)
    assert [w.name for w in wheels] == [
        "twinpkg-1.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"
    ]


def test_compatible_platforms_spell_out_the_glibc_range() -> None:
    tags = compatible_platforms("manylinux_2_36_x86_64")
    assert tags[0] == "manylinux_2_36_x86_64"
    assert {
        "manylinux_2_28_x86_64",
        "manylinux_2_17_x86_64",
        "manylinux2014_x86_64",
        "manylinux1_x86_64",
    } <= set(tags)
    assert "manylinux_2_39_x86_64" not in tags
    assert compatible_platforms("macosx_11_0_arm64") == ["macosx_11_0_arm64"]
