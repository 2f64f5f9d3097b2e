"""How the clients trust the OpenWhisk API of a Helm release: its own certificate, read from the cluster.

The chart's nginx serves a self-signed certificate that the ``gen-certs`` Job stores in the TLS Secret
``<release>-nginx``. It is a bare X.509 v1 certificate whose only name is ``CN=*.<apiHostName>``, which
never matches ``localhost`` or a node address, so verifying it as a CA with hostname checks cannot
succeed. :class:`Trust` instead pins the exact certificate: its SHA-256 fingerprint must match on every
connection (urllib3's ``assert_fingerprint``, aiohttp's ``Fingerprint``), which is stronger than
hostname verification against a CA and never turns checks off. ``--ow-insecure`` still skips them.
"""

from __future__ import annotations

import base64
import hashlib
import ssl
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter

RELEASE = "release-certificate"
SYSTEM = "system"
INSECURE = "insecure"


class _PinnedAdapter(HTTPAdapter):
    """Accept only the certificate with SHA-256 ``fingerprint`` (colon-less hex); "" = accept any.

    The adapter decides, not ``Session.verify``: requests replaces a session's ``verify=False`` with
    ``$REQUESTS_CA_BUNDLE`` when that is set (common on CI), which would turn pinning or
    ``--ow-insecure`` back into CA verification.
    """

    def __init__(self, fingerprint: str, **kwargs: Any) -> None:
        self._fingerprint = fingerprint
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        if self._fingerprint:
            kwargs["assert_fingerprint"] = self._fingerprint
        super().init_poolmanager(*args, **kwargs)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        super().cert_verify(conn, url, False, cert)  # type: ignore[no-untyped-call]  # the fingerprint checks

    def build_connection_pool_key_attributes(self, request: Any, verify: Any, cert: Any = None) -> Any:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, False, cert)
        if self._fingerprint:
            pool_kwargs["assert_fingerprint"] = self._fingerprint  # type: ignore[typeddict-unknown-key]
        return host_params, pool_kwargs


def pem_fingerprint(pem: str) -> str:
    """SHA-256 of the DER form of the first certificate in ``pem`` (lower-case hex, no colons)."""
    der = ssl.PEM_cert_to_DER_cert(pem.strip() if "-----END" in pem else pem)
    return hashlib.sha256(der).hexdigest()


@dataclass(frozen=True)
class Trust:
    """What HTTPS connections to the OpenWhisk API trust; ``describe()`` says which."""

    mode: str  # RELEASE | SYSTEM | INSECURE
    source: str = ""  # e.g. "secret openwhisk/owdev-nginx"
    pem: str = ""
    fingerprint: str = ""

    @classmethod
    def release(cls, pem: str, source: str) -> Trust:
        """Pin the release's own certificate ``pem`` (read from ``source``)."""
        return cls(RELEASE, source, pem, pem_fingerprint(pem))

    @classmethod
    def from_secret(cls, secret_data: dict[str, str], source: str) -> Trust:
        """From a TLS Secret's ``data`` (base64 ``tls.crt``)."""
        pem = base64.b64decode(secret_data["tls.crt"]).decode()
        return cls.release(pem, source)

    @property
    def requests_verify(self) -> bool:
        """What to pass as requests' ``verify``: True for CA verification, False when pinned or insecure."""
        return self.mode == SYSTEM

    def mount(self, session: requests.Session, pool_size: int = 64) -> None:
        """Make ``session`` check the pinned certificate on every https:// connection."""
        session.verify = self.requests_verify
        if self.mode != SYSTEM:
            session.mount(
                "https://", _PinnedAdapter(self.fingerprint, pool_connections=4, pool_maxsize=pool_size)
            )

    def session(self) -> requests.Session:
        """A new requests session with this trust."""
        session = requests.Session()
        self.mount(session)
        return session

    def aiohttp_ssl(self) -> Any:
        """The ``ssl=`` argument of aiohttp requests: a Fingerprint, True (CA) or False (insecure)."""
        if self.mode == RELEASE:
            import aiohttp

            return aiohttp.Fingerprint(bytes.fromhex(self.fingerprint))
        return self.mode == SYSTEM

    def describe(self) -> str:
        """One line for the report: which certificate HTTPS to the OpenWhisk API trusts."""
        if self.mode == RELEASE:
            pretty = ":".join(self.fingerprint[i : i + 2] for i in range(0, 16, 2)).upper()
            return f"tls: the release's own certificate ({self.source}, sha256 {pretty}...), pinned"
        if self.mode == INSECURE:
            return "tls: verification off (--ow-insecure)"
        return "tls: system certificate authorities"

    def fingerprint_info(self) -> dict[str, str]:
        """For the run's fingerprint (no secrets: a certificate is public)."""
        return {"mode": self.mode, "source": self.source, "sha256": self.fingerprint}
