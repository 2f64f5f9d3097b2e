"""How the clients trust the OpenWhisk API of a Helm release: its own certificate, read from the cluster.

The chart's nginx serves a self-signed certificate that the ``gen-certs`` Job stores in the TLS Secret
``<release>-nginx``. It is a bare X.509 v1 certificate whose only name is ``CN=*.<apiHostName>``, which
never matches ``localhost`` or a node address, so verifying it as a CA with hostname checks cannot
succeed. :class:`Trust` instead pins the exact certificate: its SHA-256 fingerprint must match on every
connection (urllib3's ``assert_fingerprint``, aiohttp's ``Fingerprint``), which is stronger than
hostname verification against a CA and never turns checks off. ``--ow-insecure`` still skips them.

Backends hand their trust to the clients as a requests-style ``verify`` value
(:meth:`~pytest_openwhisk.backends.base.Backend.tls_trust`); :meth:`Trust.from_verify` reads one back:
True/None = the system's certificate authorities, False = no checks, a path = a PEM file. A file holding
one self-signed end-entity certificate (no ``CA:TRUE``; the chart's certificate is one) is **pinned**, since
such a certificate can only ever vouch for itself; any other file is a CA bundle, verified with host names
as requests does.
"""

from __future__ import annotations

import base64
import hashlib
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

RELEASE = "release-certificate"
PINNED = "pinned-certificate"
CA_BUNDLE = "ca-bundle"
SYSTEM = "system"
INSECURE = "insecure"

#: the file name :meth:`Trust.verify_value` gives a pinned certificate
PINNED_FILE = "openwhisk-api-cert.pem"


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


_BEGIN, _END = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
_BASIC_CONSTRAINTS = bytes.fromhex("0603551d13")  # OID 2.5.29.19


def pem_certificates(pem: str) -> list[str]:
    """Each ``BEGIN CERTIFICATE`` block of ``pem``, in order."""
    blocks, rest = [], pem
    while _BEGIN in rest and _END in rest:
        start = rest.index(_BEGIN)
        end = rest.index(_END, start) + len(_END)
        blocks.append(rest[start:end])
        rest = rest[end:]
    return blocks


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, first content byte, end) of the DER element at ``pos``."""
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        size = length & 0x7F
        length = int.from_bytes(data[pos : pos + size], "big")
        pos += size
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, element start, content start, end) of each DER element in ``data[start:end]``."""
    found = []
    while start < end:
        tag, content, stop = _tlv(data, start)
        found.append((tag, start, content, stop))
        start = stop
    return found


def is_self_signed_end_entity(der: bytes) -> bool:
    """True when the certificate names itself as issuer and does not say ``CA:TRUE`` (basicConstraints).

    Such a certificate cannot sign another one, so trusting it means accepting exactly it (pinning).
    """
    _, cert_content, _ = _tlv(der, 0)
    _, tbs_content, tbs_end = _tlv(der, cert_content)
    fields = _children(der, tbs_content, tbs_end)
    if fields and fields[0][0] == 0xA0:  # [0] version
        fields = fields[1:]
    if len(fields) < 6:
        raise ValueError("not an X.509 certificate")
    issuer, subject = fields[2], fields[4]
    if der[issuer[1] : issuer[3]] != der[subject[1] : subject[3]]:
        return False
    for tag, _, content, _ in fields[6:]:
        if tag != 0xA3:  # [3] extensions
            continue
        _, seq_content, seq_end = _tlv(der, content)
        for _, _, ext_content, ext_end in _children(der, seq_content, seq_end):
            parts = _children(der, ext_content, ext_end)  # OID, critical?, OCTET STRING
            if der[parts[0][1] : parts[0][3]] != _BASIC_CONSTRAINTS:
                continue
            _, bc_content, bc_end = _tlv(der, parts[-1][2])  # SEQUENCE { cA BOOLEAN?, pathLen? }
            inner = _children(der, bc_content, bc_end)
            if inner and inner[0][0] == 0x01 and der[inner[0][2]] != 0:
                return False
    return True


class TrustSession(requests.Session):
    """A requests session whose own ``verify`` (False, a pinned or CA file) the environment cannot replace.

    requests merges ``$REQUESTS_CA_BUNDLE``/``$CURL_CA_BUNDLE`` into every request whose ``verify`` is
    unset, and the request's value then beats the session's: ``verify=False`` or a pinned certificate
    would silently become CA verification against that bundle. Here a request without ``verify`` takes
    the session's; only where that is True (the system's CAs) does the environment's bundle apply, as
    it configures the system's trust. Proxies and the rest of the environment are honoured as usual.
    """

    def merge_environment_settings(
        self, url: str | bytes | None, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        return super().merge_environment_settings(
            url, proxies, stream, self.verify if verify is None else verify, cert
        )


@dataclass(frozen=True)
class Trust:
    """What HTTPS connections to the OpenWhisk API trust; ``describe()`` says which."""

    mode: str  # RELEASE | PINNED | CA_BUNDLE | SYSTEM | INSECURE
    source: str = ""  # e.g. "secret openwhisk/owdev-nginx"
    pem: str = ""
    fingerprint: str = ""
    cafile: str = ""  # PINNED and CA_BUNDLE: the file given

    @classmethod
    def release(cls, pem: str, source: str) -> Trust:
        """Pin the release's own certificate ``pem`` (read from ``source``)."""
        return cls(RELEASE, source, pem, pem_fingerprint(pem))

    @classmethod
    def from_secret(cls, secret_data: dict[str, str], source: str) -> Trust:
        """From a TLS Secret's ``data`` (base64 ``tls.crt``)."""
        pem = base64.b64decode(secret_data["tls.crt"]).decode()
        return cls.release(pem, source)

    @classmethod
    def from_verify(cls, verify: str | bool | None) -> Trust:
        """A requests-style ``verify`` value as a Trust (see the module docstring for a file's meaning).

        Raises ValueError naming the file when it cannot be read or holds no PEM certificate.
        """
        if verify is None or verify is True:
            return cls(SYSTEM)
        if verify is False:
            return cls(INSECURE)
        path = str(verify)
        try:
            text = Path(path).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(
                f"cannot read the certificate file verify={path!r}: {exc}; give a PEM certificate or "
                "CA bundle, True for the system's certificate authorities or False for no checks"
            ) from None
        blocks = pem_certificates(text)
        if not blocks:
            raise ValueError(
                f"verify={path!r} holds no PEM certificate (-----BEGIN CERTIFICATE-----); give the server's "
                "certificate or a CA bundle"
            )
        try:
            pinned = len(blocks) == 1 and is_self_signed_end_entity(ssl.PEM_cert_to_DER_cert(blocks[0]))
        except (ValueError, IndexError) as exc:
            raise ValueError(
                f"verify={path!r} holds a certificate that cannot be read ({exc or type(exc).__name__}); "
                "give a PEM certificate as openssl writes it"
            ) from None
        if pinned:
            return cls(PINNED, f"file {path}", blocks[0], pem_fingerprint(blocks[0]), path)
        return cls(CA_BUNDLE, f"file {path}", cafile=path)

    @property
    def pinned(self) -> bool:
        """True when exactly one certificate is accepted (its SHA-256 checked, host names not)."""
        return self.mode in (RELEASE, PINNED)

    def verify_value(self, folder: Path) -> str | bool:
        """This trust as a requests-style ``verify`` value; a release certificate is written to ``folder``."""
        if self.mode == RELEASE:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / PINNED_FILE
            path.write_text(self.pem)
            return str(path)
        if self.mode in (PINNED, CA_BUNDLE):
            return self.cafile
        return self.mode == SYSTEM

    @property
    def requests_verify(self) -> str | bool:
        """requests' ``verify``: True (system CAs), a CA bundle path, or False (pinned or off)."""
        if self.mode == CA_BUNDLE:
            return self.cafile
        return self.mode == SYSTEM

    def mount(self, session: requests.Session, pool_size: int = 64) -> None:
        """Make ``session`` trust this: its ``verify``, plus the pinning adapter when pinned or insecure."""
        session.verify = self.requests_verify
        if self.mode in (RELEASE, PINNED, INSECURE):
            session.mount(
                "https://", _PinnedAdapter(self.fingerprint, pool_connections=4, pool_maxsize=pool_size)
            )

    def session(self) -> requests.Session:
        """A new requests session with this trust (the environment cannot replace it)."""
        session = TrustSession()
        self.mount(session)
        return session

    def aiohttp_ssl(self) -> Any:
        """aiohttp's ``ssl=``: a Fingerprint (pinned), an SSLContext (CA file), True (system) or False."""
        if self.pinned:
            import aiohttp

            return aiohttp.Fingerprint(bytes.fromhex(self.fingerprint))
        if self.mode == CA_BUNDLE:
            return ssl.create_default_context(cafile=self.cafile)
        return self.mode == SYSTEM

    def describe(self) -> str:
        """One line for the report: which certificate HTTPS to the OpenWhisk API trusts."""
        pretty = ":".join(self.fingerprint[i : i + 2] for i in range(0, 16, 2)).upper()
        if self.mode == RELEASE:
            return f"tls: the release's own certificate ({self.source}, sha256 {pretty}...), pinned"
        if self.mode == PINNED:
            return f"tls: the certificate in {self.cafile} (sha256 {pretty}...), pinned"
        if self.mode == CA_BUNDLE:
            return f"tls: the certificate authorities in {self.cafile}"
        if self.mode == INSECURE:
            return "tls: verification off (--ow-insecure)"
        return "tls: system certificate authorities"

    def fingerprint_info(self) -> dict[str, str]:
        """For the run's fingerprint (no secrets: a certificate is public)."""
        return {"mode": self.mode, "source": self.source, "sha256": self.fingerprint}
