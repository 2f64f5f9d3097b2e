"""What HTTPS clients trust: ``OpenWhiskClient(verify=...)``, ``Trust.from_verify`` and ``Backend.tls_trust``.

Against the embedded server serving HTTPS with a self-signed certificate: one like the chart's nginx
(``CN=*.localhost``, no SAN, no extensions: only pinning can accept it) and one that is its own CA
(SAN 127.0.0.1, ``CA:TRUE``: a CA bundle for requests).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_openwhisk.backends.base import BaseBackend
from pytest_openwhisk.backends.existing import ExistingBackend
from pytest_openwhisk.backends.kind import KindBackend
from pytest_openwhisk.backends.local import LocalBackend
from pytest_openwhisk.client import OpenWhiskClient
from pytest_openwhisk.errors import BackendError
from pytest_openwhisk.kube.tls import (
    CA_BUNDLE,
    INSECURE,
    PINNED,
    PINNED_FILE,
    RELEASE,
    SYSTEM,
    Trust,
    is_self_signed_end_entity,
)
from pytest_openwhisk.local.config import LocalConfig, PoolConfig
from pytest_openwhisk.local.server import LocalOpenWhisk
from pytest_openwhisk.options import Settings
from tests.plugin.certs import self_signed

CA_ENV = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


@dataclass
class Https:
    """An embedded server on https://127.0.0.1 and the certificate it serves."""

    apihost: str
    auth: str
    cert: str
    key: str


def _serve(folder: Path, *, ca: bool) -> Iterator[Https]:
    cert, key = self_signed(folder, "127.0.0.1" if ca else "*.localhost", ca=ca)
    config = LocalConfig(port=0, tls_cert=cert, tls_key=key, pool=PoolConfig(prewarm=()))
    with LocalOpenWhisk(config) as server:
        yield Https(server.apihost, server.auth, cert, key)


@pytest.fixture(scope="module")
def chart_like(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Https]:
    """Serving a certificate like the chart's (pinning only)."""
    yield from _serve(tmp_path_factory.mktemp("chart-like"), ca=False)


@pytest.fixture(scope="module")
def own_ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Https]:
    """Serving a certificate that is its own CA for 127.0.0.1."""
    yield from _serve(tmp_path_factory.mktemp("own-ca"), ca=True)


@pytest.fixture
def other_bundle(tmp_path: Path) -> str:
    """A CA bundle that does not hold the servers' certificates (as the system's on CI)."""
    cert, _ = self_signed(tmp_path / "other", "127.0.0.1", ca=True, stem="other")
    return cert


def _info(server: Https, verify: str | bool | None) -> dict[str, object]:
    with OpenWhiskClient(server.apihost, server.auth, verify=verify) as client:
        return client.info()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
@pytest.mark.parametrize("variable", CA_ENV)
def test_verify_false_is_not_replaced_by_a_ca_bundle_in_the_environment(
    own_ca: Https, other_bundle: str, variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in CA_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, other_bundle)
    assert "runtimes" in _info(own_ca, False)


@pytest.mark.parametrize("variable", CA_ENV)
def test_a_given_ca_file_is_not_replaced_by_the_environment(
    own_ca: Https, other_bundle: str, variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, other_bundle)
    assert "runtimes" in _info(own_ca, own_ca.cert)


def test_a_pinned_certificate_is_not_replaced_by_the_environment(
    chart_like: Https, other_bundle: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in CA_ENV:
        monkeypatch.setenv(name, other_bundle)
    assert "runtimes" in _info(chart_like, chart_like.cert)


def test_system_trust_still_follows_the_environment(
    own_ca: Https, other_bundle: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """True means the system's CAs, which REQUESTS_CA_BUNDLE configures: ours trusted, another one not."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", own_ca.cert)
    assert "runtimes" in _info(own_ca, True)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", other_bundle)
    with pytest.raises(BackendError, match=r"(?i)certificate"):
        _info(own_ca, True)


def test_the_chart_like_certificate_is_pinned_not_checked_by_name(chart_like: Https, tmp_path: Path) -> None:
    assert "runtimes" in _info(chart_like, chart_like.cert)
    stranger, _ = self_signed(tmp_path, "*.localhost", ca=False, stem="stranger")
    with pytest.raises(BackendError, match=r"(?i)fingerprint"):
        _info(chart_like, stranger)  # same name, another key: refused


def test_a_ca_bundle_still_checks_host_names(own_ca: Https, chart_like: Https) -> None:
    """The CA-like certificate names 127.0.0.1; requesting it as localhost fails the name check."""
    by_name = Https(own_ca.apihost.replace("127.0.0.1", "localhost"), own_ca.auth, own_ca.cert, own_ca.key)
    with pytest.raises(BackendError, match=r"(?i)hostname|match"):
        _info(by_name, own_ca.cert)


def test_from_verify_reads_what_a_file_means(tmp_path: Path) -> None:
    chart, _ = self_signed(tmp_path, "*.localhost", ca=False, stem="chart")
    own, _ = self_signed(tmp_path, "127.0.0.1", ca=True, stem="own")
    both = tmp_path / "both.pem"
    both.write_text(Path(chart).read_text() + Path(own).read_text())
    assert Trust.from_verify(chart).mode == PINNED
    assert Trust.from_verify(own).mode == CA_BUNDLE
    assert Trust.from_verify(str(both)).mode == CA_BUNDLE
    assert (Trust.from_verify(True).mode, Trust.from_verify(None).mode) == (SYSTEM, SYSTEM)
    assert Trust.from_verify(False).mode == INSECURE
    assert is_self_signed_end_entity(ssl.PEM_cert_to_DER_cert(Path(chart).read_text()))
    assert not is_self_signed_end_entity(ssl.PEM_cert_to_DER_cert(Path(own).read_text()))
    assert isinstance(Trust.from_verify(own).aiohttp_ssl(), ssl.SSLContext)


def test_from_verify_names_a_bad_file_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(
        ValueError, match=r"cannot read the certificate file verify='.*missing.pem'.*give a PEM"
    ):
        Trust.from_verify(str(tmp_path / "missing.pem"))
    empty = tmp_path / "empty.pem"
    empty.write_text("not a certificate\n")
    with pytest.raises(ValueError, match=r"verify='.*empty.pem' holds no PEM certificate"):
        Trust.from_verify(str(empty))
    garbled = tmp_path / "garbled.pem"
    garbled.write_text("-----BEGIN CERTIFICATE-----\nMIIBkTCB+wIJAKHB\n-----END CERTIFICATE-----\n")
    with pytest.raises(ValueError, match=r"verify='.*garbled.pem' holds a certificate that cannot be read"):
        Trust.from_verify(str(garbled))


def test_the_charts_openssl_v1_certificate_is_pinned(tmp_path: Path) -> None:
    """The chart's gencerts.sh makes an X.509 v1 certificate (openssl x509 -req -signkey): pinned too."""
    from tests.kube.twin.openwhisk import make_certificate

    pem, _ = make_certificate("*.localhost", tmp_path)
    path = tmp_path / "v1.pem"
    path.write_text(pem)
    assert Trust.from_verify(str(path)).mode == PINNED


def test_backends_say_what_to_trust(tmp_path: Path) -> None:
    settings = Settings()
    assert BaseBackend(settings, tmp_path).tls_trust() is None
    local = LocalBackend(settings, tmp_path)
    assert local.tls_trust() is None  # plain HTTP
    cert, key = self_signed(tmp_path / "local", "127.0.0.1", ca=True)
    local.config = LocalConfig(tls_cert=cert, tls_key=key)
    assert local.tls_trust() == cert
    insecure = LocalBackend(Settings(insecure=True), tmp_path)
    insecure.config = local.config
    assert insecure.tls_trust() is False

    kind = KindBackend(settings, tmp_path / "kind")
    assert kind.tls_trust() is True  # not started: the system's CAs
    chart, _ = self_signed(tmp_path / "chart", "*.localhost", ca=False)
    kind.tls = Trust.release(Path(chart).read_text(), "secret openwhisk/owdev-nginx")
    pinned = kind.tls_trust()
    assert isinstance(pinned, str)
    assert Path(pinned) == tmp_path / "kind" / "tls" / PINNED_FILE
    assert Trust.from_verify(pinned).fingerprint == kind.tls.fingerprint
    assert kind.tls.mode == RELEASE
    existing = ExistingBackend(Settings(apihost="https://h:1", auth="u:k", insecure=True), tmp_path)
    assert existing.tls_trust() is False


def test_ow_client_trusts_what_the_backend_says(
    pytester: pytest.Pytester, tmp_path: Path, other_bundle: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The local backend serving HTTPS with its own certificate: ``ow_client`` trusts exactly that one,
    also with another CA bundle in the environment; ``--ow-insecure`` trusts anything."""
    cert, key = self_signed(tmp_path / "served", "127.0.0.1", ca=True)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", other_bundle)
    pytester.makeconftest(
        f"""
        from dataclasses import replace
        import pytest_openwhisk.backends.local as local

        _config = local.local_config
        local.local_config = lambda settings: replace(_config(settings), tls_cert={cert!r}, tls_key={key!r})
        """
    )
    pytester.makepyfile(
        """
        def test_https(ow_cluster, ow_client):
            assert ow_client.apihost.startswith("https://127.0.0.1:")
            assert "runtimes" in ow_client.info()
            assert ow_client.trust.mode == ("insecure" if ow_cluster.settings.insecure else "ca-bundle")
        """
    )
    common = ["--ow-local-mode=thread", "--ow-prewarm=none", "-p", "no:cacheprovider"]
    pytester.runpytest(*common).assert_outcomes(passed=1)
    pytester.runpytest(*common, "--ow-insecure", "-W", "ignore::Warning").assert_outcomes(passed=1)
