"""The fixtures of pytest-openwhisk (re-exported by ``plugin.py``)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

from pytest_openwhisk.actions import ActionFactory, name_prefix
from pytest_openwhisk.backends import load_backend
from pytest_openwhisk.backends.base import Backend
from pytest_openwhisk.client import OpenWhiskClient
from pytest_openwhisk.options import Settings
from pytest_openwhisk.session import SESSION_KEY, OpenWhiskSession


def _session(config: pytest.Config) -> OpenWhiskSession:
    return config.stash[SESSION_KEY]


@pytest.fixture(scope="session")
def ow_settings(pytestconfig: pytest.Config) -> Settings:
    """The resolved ``--ow-*`` settings (frozen; CLI > env > ini > ~/.wskprops > default)."""
    return _session(pytestconfig).settings


@pytest.fixture(scope="session")
def ow_cluster(
    pytestconfig: pytest.Config, ow_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    """The running OpenWhisk backend (local, kind or existing) shared by the whole session.

    Started on first use; stopped at the end of the session unless ``--ow-keep-cluster``.
    Has ``apihost``, ``namespace``, ``force_cold(client, action)``, ``fingerprint()``, ``monitor()``.
    """
    session = _session(pytestconfig)
    backend = load_backend(ow_settings, tmp_path_factory.mktemp("openwhisk"))
    try:
        backend.__enter__()
    except BaseException as exc:
        _note_pod_dump(session, backend, exc)
        raise
    session.backend = backend
    try:
        yield backend
    finally:
        session.backend = None
        backend.__exit__(None, None, None)
    kept = backend.kept_message()
    if kept:
        session.notes.append(kept)


def _note_pod_dump(session: OpenWhiskSession, backend: Backend, exc: BaseException) -> None:
    """Name the pod dump of a failed start (if the backend wrote one) in the error and the summary."""
    dump = backend.pod_dump()
    if not dump:
        return
    line = f"pods of the failed OpenWhisk start (states, events, logs): {dump}"
    if not any(dump in note for note in getattr(exc, "__notes__", [])):
        exc.add_note(line)
    if line not in session.notes:
        session.notes.append(line)


@pytest.fixture(scope="session")
def ow_client(
    pytestconfig: pytest.Config, ow_cluster: Backend, ow_settings: Settings
) -> Iterator[OpenWhiskClient]:
    """An :class:`~pytest_openwhisk.client.OpenWhiskClient` for the session's backend (keep-alive pool).

    HTTPS trusts what the backend says (:meth:`~pytest_openwhisk.backends.base.Backend.tls_trust`: on
    kind/existing the release's own certificate, pinned), or nothing with ``--ow-insecure``.

    At the end of the session it deletes any action a test deployed and could not clean up
    (e.g. after Ctrl-C).
    """
    session = _session(pytestconfig)
    verify = False if ow_settings.insecure else ow_cluster.tls_trust()  # kind/existing: pinned release cert
    client = OpenWhiskClient(ow_cluster.apihost, ow_cluster.auth, ow_cluster.namespace, verify=verify)
    session.client = client
    with client:
        try:
            yield client
        finally:
            left = session.sweep()
            session.client = None
            if left:
                session.cleanup_failures.extend(left)
                warnings.warn(
                    pytest.PytestWarning(
                        f"pytest-openwhisk could not delete {len(left)} action(s) at {client.apihost}; "
                        "delete them by hand: " + "; ".join(f"wsk action delete '{name}'" for name in left)
                    ),
                    stacklevel=1,
                )


@pytest.fixture
def ow_action(
    request: pytest.FixtureRequest, ow_client: OpenWhiskClient, ow_cluster: Backend
) -> ActionFactory:
    """Deploy actions for this test: ``ow_action(name, source=None, *, code=None, kind=None, ...) -> Action``.

    ``source`` is a ``.py``/``.js`` file, a ``.zip`` or a folder (zipped; ``__main__.py`` or
    ``package.json``), relative to the rootdir; or pass inline ``code=``. Names get a unique per-test
    prefix (safe under xdist). ``ow_action.sequence(name, [action, ...])`` deploys a sequence.
    Everything is deleted after the test, pass or fail. ``ow_action.bundle_packages`` is the backend's
    (catalogue zips bundle packages built for the cluster's runtime image on kind/existing).
    """
    session = _session(request.config)
    factory = ActionFactory(
        ow_client, name_prefix(request.node.name), request.config.rootpath, registry=session.deployed
    )
    factory.bundle_packages = ow_cluster.bundle_packages
    request.addfinalizer(factory.delete_all)  # noqa: PT021 - registered before the first deploy
    return factory
