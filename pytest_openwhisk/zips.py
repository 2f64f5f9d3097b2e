"""Deterministic zips: the same members give the same bytes (sorted entries, fixed timestamps).

Used for action folders (:func:`pytest_openwhisk.actions.load_source`) and the catalogue's binary
functions (:func:`pytest_openwhisk.catalog.bundle.build_zip`), so a redeploy of unchanged code sends
identical bytes.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from pathlib import Path

#: the timestamp of every entry (the earliest a zip can hold)
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
#: folders never zipped from an action folder (caches, VCS)
SKIP_DIRS = frozenset({"__pycache__", ".git", ".pytest_cache", ".mypy_cache", ".ruff_cache"})


def folder_members(folder: Path) -> dict[str, Path]:
    """Archive name -> file for every file under ``folder``, without caches, VCS folders and ``.pyc``."""
    members: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_dir() or SKIP_DIRS.intersection(relative.parts) or path.suffix == ".pyc":
            continue
        members[relative.as_posix()] = path
    return members


def deterministic_zip(members: Mapping[str, Path | bytes], *, compresslevel: int = 6) -> bytes:
    """A zip of ``members`` (archive name -> file or bytes) in name order, every entry at :data:`ZIP_EPOCH`.

    Files keep their permission bits; bytes members get ``0o644``.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as archive:
        for name, source in sorted(members.items()):
            if isinstance(source, bytes):
                data, mode = source, 0o644
            else:
                data, mode = source.read_bytes(), source.stat().st_mode
            info = zipfile.ZipInfo(name, ZIP_EPOCH)
            info.external_attr = (mode & 0o777) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data, compresslevel=compresslevel)
    return buffer.getvalue()
