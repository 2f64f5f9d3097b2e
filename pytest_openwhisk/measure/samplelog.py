"""Streaming sample log: every measured Sample appended as one JSON line the moment it is measured.

``ow_bench`` writes ``<results_dir>/samples/<test node id slug>/<measurement name>.jsonl`` for each
measurement, so an interrupted (Ctrl-C) or killed run still leaves every sample it measured on disk.
Each line is :meth:`Sample.to_dict() <pytest_openwhisk.samples.Sample.to_dict>` serialised with
orjson; the file is opened once per measurement (lazily, on the first sample) and flushed after
every line. Strings containing a known auth key are masked (``***``) before they are written.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import orjson

from pytest_openwhisk.names import slug
from pytest_openwhisk.samples import Sample

#: folder under ``results_dir`` that holds the per-test sample logs
SAMPLES_DIR = "samples"
MASK = "***"


def sample_log_path(results_dir: Path, nodeid: str, measurement: str) -> Path:
    """``<results_dir>/samples/<slug(nodeid)>/<slug(measurement)>.jsonl``."""
    return Path(results_dir) / SAMPLES_DIR / slug(nodeid) / f"{slug(measurement)}.jsonl"


class SampleLog:
    """Appends samples to a JSONL file: one ``write`` + ``flush`` per sample; thread-safe.

    Use it as the ``on_sample`` callback of the runners in :mod:`pytest_openwhisk.measure.runners`. A log
    left over from an earlier run at the same path is removed when the log is created; the file
    itself is created with the first sample (a measurement that measured nothing leaves no file).
    ``secrets`` (auth keys) are masked in every string value before it is written.
    """

    def __init__(self, path: Path, secrets: Iterable[str] = ()) -> None:
        self.path = Path(path)
        self.count = 0
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._file: IO[bytes] | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.path.unlink(missing_ok=True)

    def __call__(self, sample: Sample) -> None:
        """Append ``sample`` as one line and flush it to the OS (survives a kill of this process)."""
        line = self._encode(sample)
        with self._lock:
            if self._closed:
                raise ValueError(f"sample log {self.path} is closed; create a new SampleLog to write more")
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("ab")
            self._file.write(line)
            self._file.flush()
            self.count += 1

    def _encode(self, sample: Sample) -> bytes:
        """One JSON line of ``sample`` (its fields, as :meth:`Sample.to_dict`), secrets masked."""
        data: dict[str, Any] = vars(sample)  # flat dataclass of scalars: same as to_dict(), ~10x cheaper
        if self._secrets and any(
            isinstance(v, str) and any(w in v for w in self._secrets) for v in data.values()
        ):
            data = {k: self._mask(v) if isinstance(v, str) else v for k, v in data.items()}
        return orjson.dumps(data, option=orjson.OPT_APPEND_NEWLINE)

    def _mask(self, text: str) -> str:
        for word in self._secrets:
            text = text.replace(word, MASK)
        return text

    def close(self) -> None:
        """Close the file (idempotent); later writes raise ValueError."""
        with self._lock:
            self._closed = True
            if self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> SampleLog:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def read_sample_log(path: Path) -> list[dict[str, Any]]:
    """The samples of a JSONL sample log as dicts, in the order they were measured.

    A torn last line (the process was killed mid-write) is ignored; any other bad line raises
    ``ValueError`` naming the file and line.
    """
    lines = Path(path).read_bytes().split(b"\n")
    out: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            if number == len(lines):  # last line without its newline: cut short by a kill
                break
            raise ValueError(
                f"{path}:{number} is not a JSON sample line ({exc}); "
                "the file is not a pytest-openwhisk sample log"
            ) from exc
    return out
