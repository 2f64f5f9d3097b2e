"""A synchronous OpenWhisk REST client over ``requests`` (keep-alive, typed errors, measured invokes)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter

from pytest_openwhisk.errors import STATUS_ERRORS, ActivationFailed, ApiError, BackendError, NotFound
from pytest_openwhisk.kube.tls import Trust, TrustSession
from pytest_openwhisk.names import ACTIVATION_ID_HEADER
from pytest_openwhisk.wait import wait_until

MAX_PAGE = 200


def normalize_apihost(apihost: str) -> str:
    """``host:port`` -> ``https://host:port`` (like the wsk CLI); ``http(s)://`` kept; no trailing slash."""
    host = apihost.strip().rstrip("/")
    if "://" not in host:
        host = "https://" + host
    return host


def _user_agent() -> str:
    from pytest_openwhisk import __version__

    return f"pytest-openwhisk/{__version__}"


def _key_values(items: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return [{"key": key, "value": value} for key, value in (items or {}).items()]


@dataclass
class InvokeResult:
    """One invocation as the client saw it: HTTP status, decoded body, activation id and timing."""

    http_status: int
    body: Any
    activation_id: str | None
    sent: float  # epoch seconds just before the request was sent
    received: float  # epoch seconds when the whole response was read
    latency_ms: float  # measured with time.perf_counter()

    @property
    def ok(self) -> bool:
        """True for 200 (a successful blocking activation)."""
        return self.http_status == 200

    @property
    def record(self) -> dict[str, Any] | None:
        """The activation record when the body is one (blocking invoke without ``result``)."""
        if isinstance(self.body, dict) and "response" in self.body and "activationId" in self.body:
            return self.body
        return None

    @property
    def result(self) -> Any:
        """The action's result: ``response.result`` of a record, else the body itself."""
        record = self.record
        return record["response"].get("result") if record else self.body


class OpenWhiskClient:
    """Client of one OpenWhisk API host for one API key and namespace.

    ``apihost`` without a scheme means https (like ``wsk``). HTTP errors raise the
    :data:`~pytest_openwhisk.errors.STATUS_ERRORS` subclass of :class:`ApiError` with the server's
    ``error`` message and ``code``; connection failures raise :class:`BackendError`. The auth key
    never appears in messages or the repr. Use as a context manager (or call :meth:`close`).

    ``verify`` is a requests-style value (True/None: the system's CAs; False: no checks; a path: a CA
    bundle, or one self-signed certificate that is pinned, see
    :meth:`~pytest_openwhisk.kube.tls.Trust.from_verify`). ``$REQUESTS_CA_BUNDLE``/``$CURL_CA_BUNDLE``
    apply only to True: they never turn False or a given file back into CA verification.
    """

    def __init__(
        self,
        apihost: str,
        auth: str,
        namespace: str = "_",
        *,
        verify: str | bool | None = True,
        timeout: float = 70.0,
        pool_size: int = 64,
    ) -> None:
        self.apihost = normalize_apihost(apihost)
        self.namespace = namespace or "_"
        self.timeout = timeout
        self._auth = auth
        self.trust = Trust.from_verify(verify)
        self._http = TrustSession()
        user, _, key = auth.partition(":")
        self._http.auth = (user, key)
        self._http.headers.update({"User-Agent": _user_agent(), "Accept": "application/json"})
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size)
        self._http.mount("http://", adapter)
        self._http.mount("https://", adapter)
        self.trust.mount(self._http, pool_size)  # pinned/insecure: its own https:// adapter

    def __repr__(self) -> str:
        return f"OpenWhiskClient(apihost={self.apihost!r}, namespace={self.namespace!r}, auth=***)"

    def __enter__(self) -> OpenWhiskClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()

    # -- plumbing -------------------------------------------------------------------------------------

    def _path(self, name: str) -> tuple[str, str]:
        """Split ``name``/``pkg/name``/``/ns/pkg/name`` into (namespace, quoted entity path)."""
        namespace = self.namespace
        if name.startswith("/"):
            parts = name.strip("/").split("/", 1)
            if len(parts) != 2:
                raise ValueError(f"invalid fully qualified name {name!r}; use /namespace/[package/]name")
            namespace, name = parts
        if not name or name.count("/") > 1 or any(not p for p in name.split("/")):
            raise ValueError(f"invalid action name {name!r}; use name or package/name")
        return quote(namespace, safe=""), "/".join(quote(part, safe="") for part in name.split("/"))

    def _url(self, *parts: str, namespace: str | None = None) -> str:
        ns = quote(self.namespace, safe="") if namespace is None else namespace
        return f"{self.apihost}/api/v1/namespaces/{ns}/" + "/".join(parts)

    def _send(
        self, method: str, url: str, *, ok: tuple[int, ...] = (200,), **kwargs: Any
    ) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        try:
            response = self._http.request(method, url, **kwargs)
        except requests.RequestException as exc:
            raise BackendError(f"{method} {url} failed: {type(exc).__name__}: {exc}") from exc
        if response.status_code not in ok:
            raise self._error(response)
        return response

    def _error(self, response: requests.Response) -> ApiError:
        body = _decode(response)
        error: Any = None
        code = None
        if isinstance(body, dict):
            code = body.get("code")
            error = body.get("error")
            result = (
                (body.get("response") or {}).get("result") if isinstance(body.get("response"), dict) else None
            )
            if error is None and isinstance(result, dict):
                error = result.get("error")
        if error is None:
            error = (response.text or response.reason or "").strip()[:500] or f"HTTP {response.status_code}"
        if not isinstance(error, str):
            error = json.dumps(error)
        cls = STATUS_ERRORS.get(response.status_code, ApiError)
        method = response.request.method or "" if response.request else ""
        return cls(response.status_code, error, code, body, method=method, url=response.url)

    def _json(self, method: str, url: str, **kwargs: Any) -> Any:
        return _decode(self._send(method, url, **kwargs))

    # -- platform -------------------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """``GET /``: description, limits and the ``runtimes`` manifest."""
        return dict(self._json("GET", f"{self.apihost}/"))

    def api_info(self) -> dict[str, Any]:
        """``GET /api/v1`` (no auth needed): API version and build."""
        return dict(self._json("GET", f"{self.apihost}/api/v1"))

    def limits(self) -> dict[str, Any]:
        """``GET .../limits``: the namespace's throttles and action limits."""
        return dict(self._json("GET", self._url("limits")))

    # -- actions --------------------------------------------------------------------------------------

    def create_action(
        self,
        name: str,
        code: str | None = None,
        *,
        kind: str = "python:default",
        main: str | None = None,
        binary: bytes | None = None,
        memory: int | None = None,
        timeout: int | None = None,
        logs: int | None = None,
        concurrency: int | None = None,
        params: Mapping[str, Any] | None = None,
        annotations: Mapping[str, Any] | None = None,
        overwrite: bool = True,
    ) -> dict[str, Any]:
        """Create (or with ``overwrite`` update) an action from source ``code`` or a ``binary`` zip.

        ``memory`` is in MB, ``timeout`` in ms, ``logs`` in MB. Returns the stored action.
        """
        if (code is None) == (binary is None):
            raise ValueError(
                f"create_action({name!r}): give exactly one of code= (source text) or binary= (zip bytes)"
            )
        exec_: dict[str, Any] = {"kind": kind}
        if binary is not None:
            exec_.update(code=base64.b64encode(binary).decode("ascii"), binary=True)
        else:
            exec_["code"] = code
        if main:
            exec_["main"] = main
        limits = {
            k: v
            for k, v in (
                ("memory", memory),
                ("timeout", timeout),
                ("logs", logs),
                ("concurrency", concurrency),
            )
            if v is not None
        }
        body: dict[str, Any] = {
            "exec": exec_,
            "parameters": _key_values(params),
            "annotations": _key_values(annotations),
        }
        if limits:
            body["limits"] = limits
        return self.put_action(name, body, overwrite=overwrite)

    def create_sequence(
        self,
        name: str,
        components: list[str],
        *,
        overwrite: bool = True,
        annotations: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create a sequence of ``components`` (names, resolved in this client's namespace)."""
        qualified = [c if c.startswith("/") else f"/{self.namespace}/{c}" for c in components]
        body = {
            "exec": {"kind": "sequence", "components": qualified},
            "annotations": _key_values(annotations),
        }
        return self.put_action(name, body, overwrite=overwrite)

    def put_action(self, name: str, body: Mapping[str, Any], *, overwrite: bool = True) -> dict[str, Any]:
        """``PUT`` a raw action document (``exec``, ``limits``, ``parameters``, ``annotations``)."""
        ns, path = self._path(name)
        url = self._url("actions", path, namespace=ns)
        return dict(self._json("PUT", url, params={"overwrite": str(overwrite).lower()}, json=dict(body)))

    def get_action(self, name: str, code: bool = True) -> dict[str, Any]:
        """``GET`` one action (without its code when ``code`` is False)."""
        ns, path = self._path(name)
        return dict(
            self._json("GET", self._url("actions", path, namespace=ns), params={"code": str(code).lower()})
        )

    def list_actions(self, limit: int = 30, skip: int = 0) -> list[dict[str, Any]]:
        """One page of action summaries, most recently updated first (``limit`` 1..200)."""
        return list(self._json("GET", self._url("actions"), params={"limit": limit, "skip": skip}))

    def delete_action(self, name: str, missing_ok: bool = False) -> dict[str, Any] | None:
        """Delete an action; with ``missing_ok`` a 404 returns None instead of raising."""
        ns, path = self._path(name)
        try:
            return dict(self._json("DELETE", self._url("actions", path, namespace=ns)))
        except NotFound:
            if missing_ok:
                return None
            raise

    # -- invocations ----------------------------------------------------------------------------------

    def invoke(
        self,
        name: str,
        params: Mapping[str, Any] | list[Any] | None = None,
        *,
        blocking: bool = True,
        result: bool = False,
        timeout_ms: int | None = None,
        check: bool = True,
    ) -> InvokeResult:
        """Invoke an action and time it; never raises for activations that ran and failed (500/502).

        Other HTTP errors (401, 404, 429, ...) raise their :class:`ApiError` unless ``check`` is False,
        in which case they are returned as an :class:`InvokeResult` too.
        """
        ns, path = self._path(name)
        query: dict[str, str | int] = {"blocking": str(blocking).lower(), "result": str(result).lower()}
        if timeout_ms is not None:
            query["timeout"] = timeout_ms
        url = self._url("actions", path, namespace=ns)
        data = json.dumps({} if params is None else params)
        headers = {"Content-Type": "application/json"}
        sent = time.time()
        start = time.perf_counter()
        try:
            response = self._http.post(url, params=query, data=data, headers=headers, timeout=self.timeout)
            body = _decode(response)
        except requests.RequestException as exc:
            raise BackendError(f"POST {url} failed: {type(exc).__name__}: {exc}") from exc
        elapsed = time.perf_counter() - start
        activation_id = response.headers.get(ACTIVATION_ID_HEADER)
        if not activation_id and isinstance(body, dict):
            activation_id = body.get("activationId")
        ran = response.status_code in (200, 202) or (response.status_code in (500, 502) and activation_id)
        if check and not ran:
            raise self._error(response)
        return InvokeResult(response.status_code, body, activation_id, sent, sent + elapsed, elapsed * 1000.0)

    def invoke_result(self, name: str, params: Mapping[str, Any] | list[Any] | None = None) -> Any:
        """Blocking invoke returning only the result; raises :class:`ActivationFailed` on 500/502."""
        outcome = self.invoke(name, params, blocking=True, result=True)
        if outcome.http_status in (500, 502):
            error = outcome.body.get("error") if isinstance(outcome.body, dict) else outcome.body
            ns, path = self._path(name)
            raise ActivationFailed(
                outcome.http_status,
                str(error),
                outcome.activation_id,
                outcome.body,
                method="POST",
                url=self._url("actions", path, namespace=ns),
            )
        if outcome.http_status == 202:
            raise BackendError(
                f"activation {outcome.activation_id} of {name!r} did not finish within the blocking wait; "
                "fetch it later with get_activation()"
            )
        return outcome.body

    # -- activations ----------------------------------------------------------------------------------

    def get_activation(self, activation_id: str) -> dict[str, Any]:
        """The full activation record (404 -> :class:`NotFound` while it is not stored yet)."""
        return dict(self._json("GET", self._url("activations", quote(activation_id, safe=""))))

    def list_activations(
        self,
        name: str | None = None,
        *,
        limit: int = 30,
        skip: int = 0,
        since: int | None = None,
        upto: int | None = None,
        docs: bool = False,
    ) -> list[Any]:
        """One page of activations, newest first. ``since``/``upto`` are epoch **milliseconds**."""
        query: dict[str, Any] = {"limit": limit, "skip": skip, "docs": str(docs).lower()}
        if name:
            query["name"] = name
        if since is not None:
            query["since"] = int(since)
        if upto is not None:
            query["upto"] = int(upto)
        return list(self._json("GET", self._url("activations"), params=query))

    def iter_activations(
        self,
        name: str | None = None,
        *,
        since: int | None = None,
        upto: int | None = None,
        docs: bool = False,
        page_size: int = MAX_PAGE,
        max_items: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every matching activation, newest first, fetched page by page (see :func:`activation_pages`)."""
        for page in activation_pages(
            self, name, since=since, upto=upto, docs=docs, page_size=page_size, max_items=max_items
        ):
            yield from page

    def activation_logs(self, activation_id: str) -> list[str]:
        """The log lines of an activation."""
        body = self._json("GET", self._url("activations", quote(activation_id, safe=""), "logs"))
        return list(body.get("logs", [])) if isinstance(body, dict) else []

    def activation_result(self, activation_id: str) -> dict[str, Any]:
        """``{"result", "status", "success", "size"?}`` of an activation."""
        return dict(self._json("GET", self._url("activations", quote(activation_id, safe=""), "result")))

    def wait_activation(self, activation_id: str, timeout: float = 70.0) -> dict[str, Any]:
        """Poll until the activation record exists (non-blocking invokes) and return it."""

        def probe() -> dict[str, Any] | None:
            try:
                return self.get_activation(activation_id)
            except NotFound:
                return None

        return wait_until(probe, what=f"activation {activation_id}", timeout=timeout)


class ActivationLister(Protocol):
    """What :func:`activation_pages` needs: :meth:`OpenWhiskClient.list_activations` (or a fake of it)."""

    def list_activations(
        self,
        name: str | None = None,
        *,
        limit: int = 30,
        skip: int = 0,
        since: int | None = None,
        upto: int | None = None,
        docs: bool = False,
    ) -> list[Any]:
        """One page of activations, newest first."""


def activation_pages(
    source: ActivationLister,
    name: str | None = None,
    *,
    since: int | None = None,
    upto: int | None = None,
    docs: bool = False,
    page_size: int = MAX_PAGE,
    max_items: int | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """The pages of matching activations, newest first: the one activation pager.

    Reads ``GET .../activations`` with ``skip`` += page length until a short page (``page_size`` is at
    most :data:`MAX_PAGE`, what the API serves); ``since``/``upto`` are epoch milliseconds. Entries that
    are not JSON objects are dropped. ``max_items`` bounds the total (and so the loop).
    """
    if not 1 <= page_size <= MAX_PAGE:
        raise ValueError(f"page_size={page_size!r} is invalid; use 1 to {MAX_PAGE}, e.g. {MAX_PAGE}")
    skip = 0
    while max_items is None or skip < max_items:
        limit = page_size if max_items is None else min(page_size, max_items - skip)
        page = source.list_activations(name, limit=limit, skip=skip, since=since, upto=upto, docs=docs)
        yield [item for item in page if isinstance(item, dict)]
        if len(page) < limit:
            return
        skip += len(page)


def _decode(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text
