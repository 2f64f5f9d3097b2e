"""HTTP plumbing of the embedded controller: error envelope, auth, CORS, transaction ids, query values.

Every error leaves the server as OpenWhisk's envelope ``{"error": "<message>", "code": "<transaction id>"}``
(``ErrorResponse.scala``); rejections that Pekko would raise (bad query value, malformed body, 405, 401)
carry Pekko's default wording, re-wrapped exactly as ``BasicHttpService.customRejectionHandler`` does.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import random
import zlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Middleware

from pytest_openwhisk.local.config import Limits
from pytest_openwhisk.local.entities import ENTITY_NAME_MAX, is_entity_name
from pytest_openwhisk.local.types import ControllerError, Fault, malformed_content

log = logging.getLogger("pytest_openwhisk.local")

#: request key under which the middleware stores the transaction id
TID: Any = web.RequestKey("ow_tid", str) if hasattr(web, "RequestKey") else "ow_tid"

CORS_HEADERS: Mapping[str, str] = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": (
        "Authorization, Origin, X-Requested-With, Content-Type, Accept, User-Agent"
    ),
    "Access-Control-Allow-Methods": "GET, DELETE, POST, PUT, HEAD",
}
JSON_CT = "application/json"
_JSON_HEADERS: Mapping[str, str] = {"Content-Type": JSON_CT, **CORS_HEADERS}
WWW_AUTHENTICATE = 'Basic realm="OpenWhisk secure realm"'

MISSING_CREDENTIALS = "The resource requires authentication, which was not supplied with the request"
INVALID_CREDENTIALS = "The supplied authentication is invalid"
NOT_FOUND = "The requested resource does not exist."
ROUTE_NOT_FOUND = "The requested resource could not be found."
INTERNAL_ERROR = "There was an internal server error."
BAD_REQUEST_ID = (
    "The value of HTTP header 'X-Request-ID' was malformed:\nuse printable UTF-8 text (e.g. 32 hex digits)"
)
NAMESPACE_ILLEGAL = "The namespace contains illegal characters."
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


#: HTTP status of each domain fault
FAULT_STATUS: Mapping[Fault, int] = {
    Fault.BAD_REQUEST: 400,
    Fault.FORBIDDEN: 403,
    Fault.NOT_FOUND: 404,
    Fault.NOT_ALLOWED: 405,
    Fault.CONFLICT: 409,
    Fault.TOO_LARGE: 413,
    Fault.UNPROCESSABLE: 422,
    Fault.THROTTLED: 429,
    Fault.UNAVAILABLE: 503,
}


class Reject(Exception):
    """Ends a request with an OpenWhisk error envelope (status + message)."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def max_body_bytes(limits: Limits) -> int:
    """The largest request body the controller reads (an action PUT with code, parameters, annotations)."""
    return limits.code_max_bytes + 2 * limits.parameter_max_bytes + limits.payload_max_bytes + 65536


def valid_request_id(value: str) -> bool:
    """An ``X-Request-ID`` usable as transaction id: UTF-8 text without control characters."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # bytes that were not UTF-8 (kept as surrogate escapes)
        return False
    return value.isprintable()


def new_tid() -> str:
    """A fresh 32-character transaction id (lowercase hex is a subset of OpenWhisk's alphabet)."""
    return f"{random.getrandbits(128):032x}"  # ids are not secrets: no system call per id


def json_response(obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """A JSON response serialised with orjson, CORS headers included."""
    return raw_json_response(orjson.dumps(obj), status, headers)


def raw_json_response(
    body: bytes, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A response whose body is already JSON."""
    all_headers = {**_JSON_HEADERS, **headers} if headers else _JSON_HEADERS
    return web.Response(body=body, status=status, headers=all_headers)


def printable(text: str) -> str:
    """``text`` safe for a JSON body: undecodable header bytes (surrogate escapes) become ``\\udcXX``."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def error_response(
    status: int, message: str, tid: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    """OpenWhisk's error envelope."""
    try:
        return json_response({"error": message, "code": tid}, status, headers)
    except TypeError:  # a message quoting undecodable request bytes
        return json_response({"error": printable(message), "code": printable(tid)}, status, headers)


#: zlib ``wbits`` per accepted ``Content-Encoding`` (the server does not decompress on its own)
_WBITS: Mapping[str, int] = {
    "gzip": 16 + zlib.MAX_WBITS,
    "x-gzip": 16 + zlib.MAX_WBITS,
    "deflate": zlib.MAX_WBITS,
}


async def read_body(request: web.Request, limit: int) -> bytes:
    """The request body, decoded per ``Content-Encoding`` (identity, gzip, deflate) up to ``limit`` bytes.

    A body that does not decode is 400 (OpenWhisk's envelope, never a 500), an unknown encoding 400 naming
    the accepted ones, and a body inflating past ``limit`` 413 (a compression bomb stops there)."""
    raw = await request.read()
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return raw
    wbits = _WBITS.get(encoding)
    if wbits is None:
        raise Reject(
            400,
            f"The request's Content-Encoding '{printable(encoding)}' is not supported. Expected:\n"
            "gzip, deflate or identity",
        )
    inflater = zlib.decompressobj(wbits)
    try:
        body = inflater.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise malformed_content(
            f"The request's Content-Encoding is {encoding} but its body is not: {exc}"
        ) from None
    if len(body) > limit or inflater.unconsumed_tail:
        raise Reject(413, f"Request larger than allowed: more than {limit} bytes once decoded ({encoding}).")
    if not inflater.eof:
        raise malformed_content(f"The request's Content-Encoding is {encoding} but its body is truncated.")
    return body


def malformed_query(name: str, message: str) -> Reject:
    """Pekko's MalformedQueryParamRejection, re-wrapped."""
    return Reject(400, f"The query parameter '{name}' was malformed:\n{message}")


def query_bool(query: Mapping[str, str], name: str, default: bool) -> bool:
    """A boolean query parameter the way Pekko reads it (true/yes/on/1, false/no/off/0)."""
    raw = query.get(name)
    if raw is None:
        return default
    value = raw.lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise malformed_query(name, f"'{raw}' is not a valid Boolean value")


def list_limit(query: Mapping[str, str], collection: str, default: int = 30, maximum: int = 200) -> int:
    """``limit`` of list operations: 0 means the maximum; 1..maximum; anything else 400."""
    raw = query.get("limit")
    if raw is None:
        return default
    try:
        n = int(raw)
    except ValueError:
        raise malformed_query("limit", f"The value '{raw}' is not an integer for {collection}.") from None
    if n == 0:
        return maximum
    if 0 < n <= maximum:
        return n
    raise malformed_query("limit", f"The value '{n}' is not in the range of 0 to {maximum} for {collection}.")


def list_skip(query: Mapping[str, str], collection: str) -> int:
    """``skip`` of list operations: an integer >= 0."""
    raw = query.get("skip")
    if raw is None:
        return 0
    try:
        n = int(raw)
    except ValueError:
        raise malformed_query("skip", f"The value '{raw}' is not an integer for {collection}.") from None
    if n < 0:
        raise malformed_query("skip", f"The value '{n}' is not greater than or equal to 0 for {collection}.")
    return n


#: request headers an action never sees in ``__ow_headers``: the caller's API key stays out of action
#: parameters (and so out of results and saved records); OpenWhisk passes it on
#: Content-Length and Transfer-Encoding are not request headers in Pekko (the entity holds them)
HIDDEN_HEADERS = frozenset({"authorization", "timeout-access", "content-length", "transfer-encoding"})
WEB_PREFIX = "/api/v1/web/"


def request_headers(request: web.Request) -> dict[str, str]:
    """``__ow_headers``: the request's headers by lowercase name (the last one wins), key-bearing ones out."""
    return {
        printable(k.lower()): printable(v)
        for k, v in request.headers.items()
        if k.lower() not in HIDDEN_HEADERS
    }


def parse_json_body(body: bytes, content_type: str | None) -> Any:
    """Decode a request body as Pekko's JSON unmarshaller would (415 for other content types, 400 bad JSON).

    An empty body is ``None`` (``entity(as[Option[JsObject]])``)."""
    if not body.strip():
        return None
    if content_type is None or not (content_type == JSON_CT or content_type.endswith("+json")):
        raise Reject(415, f"The request's Content-Type is not supported. Expected:\n{JSON_CT}")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise malformed_content(str(exc)) from None


def namespace_of(segment: str, own: str, fqname_rest: str = "") -> str:
    """Resolve the ``{ns}`` path segment: ``_`` is the caller's namespace, another one is 403."""
    if segment == "_" or segment == own:
        return own
    if not is_entity_name(segment):
        if len(segment) > ENTITY_NAME_MAX:
            raise Reject(400, f"Namespace longer than allowed: {len(segment)} > {ENTITY_NAME_MAX}.")
        raise Reject(400, NAMESPACE_ILLEGAL)
    fqname = f"{segment}/{fqname_rest}" if fqname_rest else segment
    raise Reject(403, f"The supplied authentication is not authorized to access '{fqname}'.")


class Authenticator:
    """HTTP Basic auth against one ``uuid:key``, compared in constant time."""

    def __init__(self, auth: str) -> None:
        self._key = auth.encode()
        self._header = b"Basic " + base64.b64encode(self._key)

    def check(self, header: str | None) -> None:
        """Raise the 401 rejection unless ``header`` carries the key."""
        if not header:
            raise Reject(401, MISSING_CREDENTIALS, {"WWW-Authenticate": WWW_AUTHENTICATE})
        raw = header.encode("utf-8", "surrogateescape")
        if hmac.compare_digest(raw, self._header):
            return
        scheme, _, token = raw.partition(b" ")
        if scheme.lower() != b"basic":
            raise Reject(401, INVALID_CREDENTIALS, {"WWW-Authenticate": WWW_AUTHENTICATE})
        try:
            decoded = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            decoded = b""
        if not hmac.compare_digest(decoded, self._key):
            raise Reject(401, INVALID_CREDENTIALS, {"WWW-Authenticate": WWW_AUTHENTICATE})


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_middleware(authenticator: Authenticator) -> Middleware:
    """One middleware for everything cross-cutting: transaction id, auth, error envelope, CORS."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        tid = request.headers.get("X-Request-ID")
        bad_tid = False
        if not tid:
            tid = new_tid()
        elif not valid_request_id(tid):
            bad_tid, tid = True, new_tid()
        request[TID] = tid
        path = request.path
        try:
            if bad_tid:
                raise Reject(400, BAD_REQUEST_ID)
            web_action = path.startswith(WEB_PREFIX)  # answers its own OPTIONS and CORS headers
            if request.method == "OPTIONS" and not web_action:  # CORS preflight: 200, no auth
                return web.Response(status=200, headers=CORS_HEADERS)
            if path.startswith("/api/v1/namespaces") or path.startswith("/admin/"):
                authenticator.check(request.headers.get("Authorization"))
            response = await handler(request)
        except Reject as exc:
            response = error_response(exc.status, exc.message, tid, exc.headers)
        except ControllerError as exc:
            response = error_response(FAULT_STATUS[exc.fault], exc.message, tid)
        except web.HTTPMethodNotAllowed as exc:
            allowed = ", ".join(sorted(exc.allowed_methods))
            response = error_response(405, f"HTTP method not allowed, supported methods: {allowed}", tid)
        except web.HTTPNotFound:
            response = error_response(404, ROUTE_NOT_FOUND, tid)
        except web.HTTPRequestEntityTooLarge as exc:
            response = error_response(413, exc.text or "Request Entity Too Large", tid)
        except web.HTTPException as exc:
            response = error_response(exc.status, exc.reason, tid)
        except Exception:  # a bug: answer like Pekko's default handler, keep the traceback in the log
            log.exception("[%s] %s %s failed", tid, request.method, path)
            response = error_response(500, INTERNAL_ERROR, tid)
        if "Access-Control-Allow-Origin" not in response.headers and not path.startswith(WEB_PREFIX):
            response.headers.update(CORS_HEADERS)
        return response

    return middleware
