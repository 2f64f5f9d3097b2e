"""Which certificates the open-loop sender trusts: the backend's TLS trust as the sender's ``ssl=`` value.

The trust is a requests-style ``verify`` value, as ``Backend.tls_trust()`` returns it (``None``: the system's
certificate authorities; ``True`` / ``False``: system authorities / no checks; a path: a PEM file). A file is
read by the same rule as ``ow_client``'s (:meth:`pytest_openwhisk.kube.tls.Trust.from_verify`): one
self-signed end-entity certificate (the chart's nginx certificate, the embedded server's own) is **pinned**
(its SHA-256 must match the server's; its name need not match ``localhost``), anything else is a CA bundle
verified with host name checks. ``verify=False`` (``--ow-insecure``) wins over the trust.
"""

from __future__ import annotations

from typing import Any

from pytest_openwhisk.workload.spec import WorkloadError

Trust = str | bool | None


def aiohttp_ssl(trust: Trust, verify: bool = True) -> Any:
    """aiohttp's ``ssl=`` for ``trust``: an ``aiohttp.Fingerprint`` (pinned), an ``SSLContext`` (CA file),
    True (system authorities) or False (no checks). A bad file raises :class:`WorkloadError` naming it."""
    if not verify or trust is False:
        return False
    if trust is None or trust is True:
        return True
    from pytest_openwhisk.kube.tls import Trust as KubeTrust

    try:
        return KubeTrust.from_verify(trust).aiohttp_ssl()
    except ValueError as exc:
        raise WorkloadError(f"tls trust is invalid: {exc}; or pass --ow-insecure") from None


def describe(trust: Trust, verify: bool = True) -> str:
    """One line for results: what the sender's HTTPS connections trust."""
    if not verify or trust is False:
        return "no verification"
    if trust is None or trust is True:
        return "system certificate authorities"
    return f"certificates in {trust}"
