"""Web actions: ``/api/v1/web/{namespace}/{package|default}/{action}[.json|.http|.html|.svg|.text][/path]``.

Follows ``WebActions.scala``: the action must carry ``web-export: true`` (else 404); anyone may call it
(a valid API key adds ``__ow_user``); ``require-whisk-auth`` (``true``: a valid key; a string or number:
the ``X-Require-Whisk-Auth`` header must equal it); ``raw-http`` passes the query as ``__ow_query`` and
the body as ``__ow_body`` (base64 for binary content), otherwise JSON/form bodies are merged into the
parameters; the reserved ``__ow_*`` names and ``final`` parameters may not be overridden (400); CORS
headers and ``OPTIONS`` are answered by the server unless ``web-custom-options: true`` hands them to the
action. The result becomes the HTTP response per extension (``.http`` by default: ``statusCode``,
``headers``, ``body``); an application error's ``error`` field is transcoded the same way; other failures
are 400. Unlike OpenWhisk, ``__ow_headers`` never carries the caller's ``Authorization`` header.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from pytest_openwhisk.local.action_doc import ActionDoc
from pytest_openwhisk.local.action_put import is_binary_code
from pytest_openwhisk.local.controller import PARAMETERS_NOT_ALLOWED, Controller
from pytest_openwhisk.local.entities import NOT_FOUND, is_entity_name
from pytest_openwhisk.local.httpapi import (
    FAULT_STATUS,
    TID,
    Authenticator,
    Reject,
    error_response,
    read_body,
    request_headers,
)
from pytest_openwhisk.local.types import APPLICATION_ERROR, SUCCESS, ControllerError
from pytest_openwhisk.names import ACTIVATION_ID_HEADER

PREFIX = "/api/v1/web/"
ACTIVATION_HEADER = ACTIVATION_ID_HEADER
EXTENSIONS = (".http", ".json", ".html", ".svg", ".text")
RESERVED = frozenset({"__ow_method", "__ow_headers", "__ow_path", "__ow_user", "__ow_query", "__ow_body"})
UNAUTHORIZED = "Authentication is possible but has failed or not yet been provided."
NOT_READY = "Response not yet ready."
PROCESSING_ERROR = "There was an error processing your request."
PROPERTY_NOT_FOUND = "Response does not include requested property."
UNKNOWN_CONTENT_TYPE = "Response did not specify a known content-type."
CONTENT_TYPE_MISMATCH = "Response type in header did not match generated content type."
CORS_METHODS = "OPTIONS, GET, DELETE, POST, PUT, HEAD, PATCH"
CORS_DEFAULT_HEADERS = "Authorization, Origin, X-Requested-With, Content-Type, Accept, User-Agent"
#: media types Pekko treats as text (anything else without a charset parameter is binary)
_TEXT_TYPES = frozenset(
    {
        "application/json",
        "application/javascript",
        "application/xml",
        "application/xhtml+xml",
        "application/x-www-form-urlencoded",
        "application/rss+xml",
        "application/atom+xml",
        "application/soap+xml",
    }
)


def invalid_media(media: str) -> Reject:
    """``Messages.invalidMedia`` (400)."""
    return Reject(400, f"Response is not valid '{media}'.")


def media_type(value: str) -> tuple[str, dict[str, str]] | None:
    """``type/subtype`` (lowercase) and parameters of a Content-Type value; None when it does not parse."""
    head, *params = value.split(";")
    main, slash, sub = head.strip().lower().partition("/")
    token = set("abcdefghijklmnopqrstuvwxyz0123456789!#$&-^_.+")
    if not slash or not main or not sub or not set(main) <= token or not set(sub) <= token:
        return None
    out: dict[str, str] = {}
    for p in params:
        key, _, val = p.partition("=")
        out[key.strip().lower()] = val.strip().strip('"')
    return f"{main}/{sub}", out


def is_json_family(mt: str) -> bool:
    """``application/json`` or any ``+json`` type."""
    return mt == "application/json" or mt.endswith("+json")


def is_binary(mt: str, params: Mapping[str, str]) -> bool:
    """Whether Pekko treats the media type as binary (base64 in ``__ow_body`` / in the response body)."""
    return not (mt.startswith("text/") or mt in _TEXT_TYPES or is_json_family(mt) or "charset" in params)


def _header_values(name: str, value: Any) -> list[tuple[str, str]]:
    """``headersFromJson``: strings, booleans, numbers, arrays of those; anything else is invalid."""
    if isinstance(value, bool):
        return [(name, "true" if value else "false")]
    if isinstance(value, str):
        return [(name, value)]
    if isinstance(value, int | float):
        return [(name, str(value))]
    if isinstance(value, list):
        return [h for v in value for h in _header_values(name, v)]
    raise ValueError("Invalid header")


def _status(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("Illegal status code")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    code = int(value) if isinstance(value, int | str) else None
    if code is None or not 100 <= code <= 599:
        raise ValueError("Illegal status code")
    return code


def _text_content_type(mt: str, params: Mapping[str, str]) -> str:
    if mt == "application/json" or "charset" in params:
        return mt + "".join(f"; {k}={v}" for k, v in params.items())
    return f"{mt}; charset=UTF-8"


def _response(
    status: int, headers: list[tuple[str, str]], body: bytes, content_type: str | None
) -> web.Response:
    response = web.Response(status=status, body=body if body else None)
    for k, v in headers:
        if k.lower() != "content-type":
            response.headers.add(k, v)
    if content_type is not None and body:
        response.headers["Content-Type"] = content_type
    elif not body:
        response.headers.pop("Content-Type", None)
    return response


def as_http(result: Any) -> web.Response:
    """The ``.http`` transcoder: ``statusCode``, ``headers``, ``body`` of the result object."""
    if not isinstance(result, dict):
        raise invalid_media("message/http")
    try:
        raw_headers = result.get("headers")
        if raw_headers is not None and not isinstance(raw_headers, dict):
            raise ValueError("Invalid header")
        headers = [h for k, v in (raw_headers or {}).items() for h in _header_values(k, v)]
        code = _status(result.get("statusCode"))
    except (ValueError, TypeError):
        raise invalid_media("message/http") from None
    body = result.get("body")
    declared = next((v for k, v in headers if k.lower() == "content-type"), None)
    if isinstance(body, str) and body:
        parsed = media_type(declared) if declared is not None else ("text/html", {})
        if parsed is None:
            raise Reject(400, UNKNOWN_CONTENT_TYPE)
        mt, params = parsed
        if (is_json_family(mt) and is_binary_code(body)) or is_binary(mt, params):
            try:
                data = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError):
                raise Reject(400, CONTENT_TYPE_MISMATCH) from None
            ctype = declared if declared is not None else mt
            if not is_binary(mt, params):
                ctype = _text_content_type(mt, params)
            return _response(code or 200, headers, data, ctype)
        return _response(code or 200, headers, body.encode(), _text_content_type(mt, params))
    if body is None or body == "":
        return _response(code or 204, headers, b"", None)
    parsed = media_type(declared) if declared is not None else ("application/json", {})
    if parsed is None:
        raise Reject(400, UNKNOWN_CONTENT_TYPE)
    mt, _ = parsed
    if mt == "application/json":
        return _response(code or 200, headers, orjson.dumps(body), "application/json")
    if is_json_family(mt):
        return _response(code or 200, headers, json.dumps(body, indent=2).encode(), f"{mt}; charset=UTF-8")
    raise Reject(400, CONTENT_TYPE_MISMATCH)


def as_json(result: Any) -> web.Response:
    """The ``.json`` transcoder: an object or array, as JSON."""
    if not isinstance(result, dict | list):
        raise invalid_media("application/json")
    return web.Response(body=orjson.dumps(result), content_type="application/json")


def _field(result: Any, *names: str) -> Any:
    if isinstance(result, dict):
        for name in names:
            if name in result:
                return result[name]
        return None
    return result


def as_html(result: Any) -> web.Response:
    """The ``.html`` transcoder: the ``body`` (or ``html``) string."""
    html = _field(result, "body", "html")
    if not isinstance(html, str):
        raise invalid_media("text/html")
    return web.Response(text=html, content_type="text/html", charset="utf-8")


def as_svg(result: Any) -> web.Response:
    """The ``.svg`` transcoder: the ``body`` (or ``svg``) string."""
    svg = _field(result, "body", "svg")
    if not isinstance(svg, str):
        raise invalid_media("image/svg+xml")
    return web.Response(body=svg.encode(), content_type="image/svg+xml")


def as_text(result: Any) -> web.Response:
    """The ``.text`` transcoder: the ``body`` (or ``text``) field as text (JSON pretty-printed)."""
    missing = object()
    value: Any = result
    if isinstance(result, dict):
        value = result.get("body", result.get("text", missing))
    if value is missing:
        raise Reject(404, PROPERTY_NOT_FOUND)
    if isinstance(value, dict | list):
        text = json.dumps(value, indent=2)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    else:
        text = str(value)
    return web.Response(text=text, content_type="text/plain", charset="utf-8")


TRANSCODERS = {".http": as_http, ".json": as_json, ".html": as_html, ".svg": as_svg, ".text": as_text}


def split_extension(segment: str) -> tuple[str, str]:
    """``mediaTranscoderForName``: (action name, extension); no known extension means ``.http``."""
    for ext in EXTENSIONS:
        if segment.endswith(ext):
            return segment[: -len(ext)], ext
    return segment, ".http"


_ABSENT = object()


def _truthy_auth(annotation: Any, headers: Mapping[str, str], user: bool) -> bool:
    """``confirmAuthenticated`` for a ``require-whisk-auth`` annotation that is present."""
    given = headers.get("X-Require-Whisk-Auth")
    if isinstance(annotation, bool):
        return user if annotation else True
    if isinstance(annotation, str):
        return given == annotation
    if isinstance(annotation, int | float):
        return given == str(annotation)
    return False


class WebApi:
    """The web action route."""

    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl
        self.own = ctl.config.namespace
        self.auth = Authenticator(ctl.config.auth)

    def routes(self) -> list[web.RouteDef]:
        """Every method OpenWhisk allows on web actions."""
        path = PREFIX + "{ns}/{pkg}/{rest:.+}"
        return [
            web.route(method, path, self.handle)
            for method in ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")  # GET adds HEAD
        ]

    def _lookup(self, ns: str, pkg: str, name: str) -> ActionDoc:
        """The exported action (package parameters merged); 404 for anything else, leaking nothing."""
        if ns != self.own or not (pkg == "default" or is_entity_name(pkg)) or not is_entity_name(name):
            raise Reject(404, NOT_FOUND)
        path = f"{ns}/{name}" if pkg == "default" else f"{ns}/{pkg}/{name}"
        try:
            doc = self.ctl.resolve_action(path)
        except ControllerError:
            doc = None
        if doc is None or doc.annotation("web-export") is not True:
            raise Reject(404, NOT_FOUND)
        return doc

    def _user(self, request: web.Request) -> bool:
        try:
            self.auth.check(request.headers.get("Authorization"))
        except Reject:
            return False
        return True

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Resolve, authorize, build the arguments, invoke and transcode (see the module docstring)."""
        info = request.match_info
        segment, slash, rest = info["rest"].partition("/")
        name, ext = split_extension(segment)
        doc = self._lookup(info["ns"], info["pkg"], name)
        limit = self.ctl.limits.payload_max_bytes
        if request.content_length is not None and request.content_length > limit:
            raise Reject(413, f"Request larger than allowed: {request.content_length} > {limit} bytes.")
        custom_options = doc.annotation("web-custom-options") is True
        cors: dict[str, str] = {}
        if not custom_options:
            cors = {
                "Access-Control-Allow-Origin": "*",
                "Access-Control-Allow-Methods": CORS_METHODS,
                "Access-Control-Allow-Headers": request.headers.get(
                    "Access-Control-Request-Headers", CORS_DEFAULT_HEADERS
                ),
            }
            if request.method == "OPTIONS":
                return web.Response(status=200, headers=cors)
        try:
            return await self._process(request, doc, ext, slash + rest, cors, custom_options)
        except (Reject, ControllerError) as exc:
            status = exc.status if isinstance(exc, Reject) else FAULT_STATUS[exc.fault]
            headers = {**cors, **(exc.headers or {})} if isinstance(exc, Reject) else cors
            return error_response(status, exc.message, request[TID], headers)

    async def _process(
        self,
        request: web.Request,
        doc: ActionDoc,
        ext: str,
        path: str,
        cors: dict[str, str],
        custom_options: bool,
    ) -> web.StreamResponse:
        user = self._user(request)
        required = doc.annotation("require-whisk-auth", _ABSENT)
        if required is not _ABSENT and not (request.method == "OPTIONS" and custom_options):
            if not _truthy_auth(required, request.headers, user):
                raise Reject(401, UNAUTHORIZED)
        raw = doc.annotation("raw-http") is True
        headers = request_headers(request)
        body = await self._body(request, raw)
        query = request.rel_url.raw_query_string
        args: dict[str, Any] = {
            "__ow_method": request.method.lower(),
            "__ow_headers": headers,
            "__ow_path": path,
        }
        if user:
            args["__ow_user"] = self.own
        if raw:
            args["__ow_query"] = query
            args["__ow_body"] = body if body is not None else ""
        else:
            params = dict(parse_qsl(query, keep_blank_values=True))
            body_fields = body if isinstance(body, dict) else {}
            if not (set(params) | set(body_fields)).isdisjoint(RESERVED | doc.final_params):
                raise Reject(400, PARAMETERS_NOT_ALLOWED)
            args.update(params)
            if isinstance(body, dict):
                args.update(body)
            elif body is not None:
                args["__ow_body"] = body
        self.ctl.admit(self.own)
        activation_id, task = self.ctl.start(doc, args, request[TID], early=True)
        extra = {**cors, ACTIVATION_HEADER: activation_id}
        done, _ = await asyncio.wait((task,), timeout=self.ctl.limits.blocking_wait_ms / 1000)
        if not done:
            raise Reject(202, NOT_READY, extra)
        activation = task.result()
        result = activation.record["response"]["result"]
        code = activation.status_code
        if code not in (SUCCESS, APPLICATION_ERROR):
            raise Reject(400, PROCESSING_ERROR, extra)
        if code == APPLICATION_ERROR:
            if not isinstance(result, dict) or "error" not in result:
                raise Reject(404, PROPERTY_NOT_FOUND, extra)
            result = result["error"]
        try:
            response = TRANSCODERS[ext](result)
        except Reject as exc:
            raise Reject(exc.status, exc.message, extra) from None
        response.headers.update(extra)
        return response

    async def _body(self, request: web.Request, raw: bool) -> Any:
        """The request body as OpenWhisk hands it to a web action (None when empty)."""
        data = await read_body(request, self.ctl.limits.payload_max_bytes)
        declared = request.headers.get("Content-Type")
        if not data and not declared:
            return None
        parsed = media_type(declared) if declared else ("application/octet-stream", {})
        mt, params = parsed if parsed is not None else ("application/octet-stream", {})
        if not data:  # Pekko: an empty entity that has a content type is still a body (JSON/form: none)
            parsed_by_openwhisk = is_json_family(mt) or mt == "application/x-www-form-urlencoded"
            return None if not raw and parsed_by_openwhisk else ""
        if not raw and is_json_family(mt):
            try:
                return orjson.loads(data)
            except orjson.JSONDecodeError as exc:
                raise Reject(400, f"The request content was malformed:\n{exc}") from None
        if not raw and mt == "application/x-www-form-urlencoded":
            return dict(parse_qsl(data.decode("utf-8", "replace"), keep_blank_values=True))
        if is_binary(mt, params) or mt == "application/json":
            return base64.b64encode(data).decode()
        return data.decode("utf-8", "replace")
