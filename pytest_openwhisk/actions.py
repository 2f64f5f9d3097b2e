"""Deploy actions for one test (file, folder -> zip, inline code, sequence) and delete them afterwards."""

from __future__ import annotations

import io
import uuid
import warnings
import zipfile
from collections.abc import Callable, Mapping, MutableSet, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_openwhisk.client import InvokeResult, OpenWhiskClient
from pytest_openwhisk.errors import ConfigError
from pytest_openwhisk.names import is_entity_name, slug
from pytest_openwhisk.zips import deterministic_zip, folder_members

#: file extension -> kind family default
EXTENSION_KINDS = {".py": "python:default", ".js": "nodejs:default"}


def name_prefix(test_name: str, max_len: int = 40) -> str:
    """A short, valid OpenWhisk name fragment from a test name plus a random suffix (unique per test)."""
    return f"{slug(test_name, max_len=max_len, fallback='test', sep='-')}-{uuid.uuid4().hex[:6]}"


def kind_of_entries(names: Sequence[str], where: str) -> str:
    """The kind family of an archive: ``__main__.py`` -> Python, ``package.json``/``index.js`` -> Node.js."""
    if "__main__.py" in names:
        return "python:default"
    if "package.json" in names or "index.js" in names:
        return "nodejs:default"
    raise ConfigError(
        f"{where} has no entry point: add __main__.py (Python) or package.json / index.js (Node.js) at its "
        "top level, or pass kind= explicitly"
    )


@dataclass(frozen=True)
class Source:
    """What to send: source text or zip bytes, and the kind."""

    kind: str
    code: str | None = None
    binary: bytes | None = None


def load_source(source: str | Path, root: Path, kind: str | None = None) -> Source:
    """Read an action from a ``.py``/``.js`` file, a ``.zip`` or a folder (zipped); relative to ``root``."""
    path = Path(source)
    if not path.is_absolute():
        path = root / path
    if path.is_dir():
        payload = deterministic_zip(folder_members(path))
        top = [p.name for p in path.iterdir()]
        return Source(kind or kind_of_entries(top, f"action folder {str(path)!r}"), binary=payload)
    if not path.is_file():
        raise ConfigError(
            f"action source {str(path)!r} does not exist; give a .py/.js file, a .zip or a folder "
            f"(relative paths start at the rootdir {str(root)!r})"
        )
    if path.suffix == ".zip":
        payload = path.read_bytes()
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            names = [n for n in archive.namelist() if "/" not in n.rstrip("/")]
        return Source(kind or kind_of_entries(names, f"zip {str(path)!r}"), binary=payload)
    inferred = EXTENSION_KINDS.get(path.suffix)
    if inferred is None and kind is None:
        raise ConfigError(
            f"cannot infer the runtime of {str(path)!r} from its extension {path.suffix!r}; "
            "use a .py or .js file, a .zip, a folder, or pass kind= (e.g. kind='python:3.11')"
        )
    return Source(kind or inferred or "", code=path.read_text(encoding="utf-8"))


@dataclass
class Action:
    """A deployed action or sequence: ``name`` is the unique deployed name, ``base_name`` the asked one."""

    name: str
    base_name: str
    kind: str
    client: OpenWhiskClient = field(repr=False)
    is_sequence: bool = False

    def invoke(self, params: Mapping[str, Any] | list[Any] | None = None, **kwargs: Any) -> InvokeResult:
        """Invoke (blocking by default) and return the timed :class:`InvokeResult`."""
        return self.client.invoke(self.name, params, **kwargs)

    def result(self, params: Mapping[str, Any] | list[Any] | None = None) -> Any:
        """Blocking invoke returning the result; raises ``ActivationFailed`` when the activation failed."""
        return self.client.invoke_result(self.name, params)

    def activations(self, limit: int = 30, *, docs: bool = True) -> list[dict[str, Any]]:
        """The most recent activations of this action, newest first (full records unless ``docs=False``)."""
        return self.client.list_activations(self.name, limit=limit, docs=docs)


class ActionFactory:
    """``factory(name, source=None, *, code=None, kind=None, ...) -> Action`` with unique names per test.

    Every deployed action is remembered and :meth:`delete_all` removes them (sequences first);
    ``registry`` (the session's ``deployed`` set) lets the session sweep leftovers after an interrupt.
    """

    def __init__(
        self, client: OpenWhiskClient, prefix: str, root: Path, registry: MutableSet[str] | None = None
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.root = root
        self.deployed: list[Action] = []
        self._registry: MutableSet[str] = registry if registry is not None else set()
        #: called as on_deploy(factory, action, name, source, options) after a file/folder deploy
        self.on_deploy: Callable[..., object] | None = None
        #: the backend's ``bundle_packages(kind, modules, cache_dir)`` (zip members built for its runtime
        #: image, or None: bundle this interpreter's packages); set by the ``ow_action`` fixture
        self.bundle_packages: Callable[[str, Sequence[str], Path], Mapping[str, bytes] | None] | None = None

    def _unique(self, base_name: str) -> str:
        if not is_entity_name(base_name):
            raise ConfigError(
                f"invalid action name {base_name!r}; use letters, digits, _ - @ . & and spaces "
                "(not starting with a symbol, no '/')"
            )
        return f"{self.prefix}-{base_name}"[:256]

    def _record(self, action: Action) -> Action:
        self.deployed.append(action)
        self._registry.add(action.name)
        return action

    def __call__(
        self,
        name: str,
        source: str | Path | None = None,
        *,
        code: str | None = None,
        kind: str | None = None,
        main: str | None = None,
        memory: int | None = None,
        timeout: int | None = None,
        logs: int | None = None,
        concurrency: int | None = None,
        params: Mapping[str, Any] | None = None,
        annotations: Mapping[str, Any] | None = None,
    ) -> Action:
        """Deploy ``name`` from ``source`` (file/folder/zip path) or inline ``code``; limits in MB/ms."""
        if (source is None) == (code is None):
            raise ConfigError(
                f"ow_action({name!r}): give either a source path (file, folder or .zip) or code='...', not "
                f"{'both' if code is not None else 'neither'}"
            )
        loaded = (
            Source(kind or "python:default", code=code)
            if code is not None
            else load_source(source or "", self.root, kind)
        )
        deployed_name = self._unique(name)
        self._registry.add(deployed_name)  # before the PUT: an interrupt mid-request is still swept
        try:
            stored = self.client.create_action(
                deployed_name,
                loaded.code,
                kind=loaded.kind,
                main=main,
                binary=loaded.binary,
                memory=memory,
                timeout=timeout,
                logs=logs,
                concurrency=concurrency,
                params=params,
                annotations=annotations,
            )
        except Exception:  # an interrupt keeps the name registered: the PUT may have landed
            self._registry.discard(deployed_name)
            raise
        stored_kind = (stored.get("exec") or {}).get("kind", loaded.kind)
        action = self._record(Action(deployed_name, name, stored_kind, self.client))
        if self.on_deploy is not None and source is not None:
            options: dict[str, Any] = {"kind": kind, "main": main, "memory": memory, "logs": logs}
            options.update(timeout=timeout, concurrency=concurrency, params=params, annotations=annotations)
            self.on_deploy(self, action, name, source, options)
        return action

    def sequence(
        self, name: str, components: Sequence[Action | str], *, annotations: Mapping[str, Any] | None = None
    ) -> Action:
        """Deploy a sequence of actions (``Action`` objects, base names deployed here, or other names)."""
        if not components:
            raise ConfigError(
                f"sequence {name!r} needs at least one component (Action objects or action names)"
            )
        by_base = {action.base_name: action.name for action in self.deployed}
        names = [c.name if isinstance(c, Action) else by_base.get(c, c) for c in components]
        deployed_name = self._unique(name)
        self._registry.add(deployed_name)
        try:
            self.client.create_sequence(deployed_name, names, annotations=annotations)
        except Exception:
            self._registry.discard(deployed_name)
            raise
        return self._record(Action(deployed_name, name, "sequence", self.client, is_sequence=True))

    def delete_all(self) -> None:
        """Delete everything deployed (sequences first); failures become one ``PytestWarning``."""
        failed: list[str] = []
        reasons: list[str] = []
        ordered = sorted(reversed(self.deployed), key=lambda a: not a.is_sequence)
        for action in ordered:
            try:
                self.client.delete_action(action.name, missing_ok=True)
            except Exception as exc:
                failed.append(action.name)
                reasons.append(f"{action.name}: {exc}")
            else:
                self._registry.discard(action.name)
        self.deployed.clear()
        if failed:
            commands = "; ".join(f"wsk action delete '{n}'" for n in failed)
            warnings.warn(
                pytest.PytestWarning(
                    f"pytest-openwhisk could not delete {len(failed)} action(s) at {self.client.apihost} "
                    f"({'; '.join(reasons)}). Delete them by hand: {commands}"
                ),
                stacklevel=1,
            )
