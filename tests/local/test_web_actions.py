"""Web actions (``/api/v1/web/...``) over the fake invoker: arguments, transcoders, auth, CORS, errors."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import requests

from .conftest import DEVFAIL, ECHO, FAIL, Api

WEB = {"key": "web-export", "value": True}


def web_url(api: Api, path: str) -> str:
    """``{apihost}/api/v1/web/guest/{path}``."""
    return f"{api.apihost}/api/v1/web/guest/{path}"


def _export(api: Api, name: str, code: str = ECHO, *notes: dict[str, Any], **body: Any) -> None:
    response = api.put_action(name, code, annotations=[WEB, *notes], **body)
    assert response.status_code == 200, response.text


def test_not_exported_or_missing_is_404(api: Api) -> None:
    api.put_action("plain")
    for path in ("default/plain", "default/missing.json", "nopkg/plain", "default/plain.xml"):
        response = requests.get(web_url(api, path), timeout=10)
        assert response.status_code == 404, path
        assert response.json()["error"] == "The requested resource does not exist."
    other_ns = requests.get(f"{api.apihost}/api/v1/web/someone/default/plain", timeout=10)
    assert other_ns.status_code == 404


def test_json_extension_shows_the_arguments(api: Api) -> None:
    _export(api, "echo", parameters=[{"key": "stored", "value": 1}])
    response = requests.post(
        web_url(api, "default/echo.json/a/b") + "?q=1&q2=x",
        json={"b": True},
        headers={"X-Custom": "v"},
        auth=tuple(api.session.auth),  # type: ignore[arg-type]
        timeout=10,
    )
    assert response.status_code == 200
    args = response.json()
    assert args["__ow_method"] == "post"
    assert args["__ow_path"] == "/a/b"
    assert args["__ow_user"] == "guest"  # a valid key was given
    assert args["__ow_headers"]["x-custom"] == "v"
    assert "authorization" not in args["__ow_headers"]  # the key never reaches the action
    assert (args["q"], args["q2"], args["b"], args["stored"]) == ("1", "x", True, 1)
    assert len(response.headers["x-openwhisk-activation-id"]) == 32
    record = api.activation(response.headers["x-openwhisk-activation-id"]).json()
    assert record["name"] == "echo"


def test_anonymous_call_has_no_user_and_form_bodies_are_fields(api: Api) -> None:
    _export(api, "echo")
    response = requests.put(web_url(api, "default/echo.json"), data={"f": "1"}, timeout=10)
    args = response.json()
    assert "__ow_user" not in args
    assert args["__ow_method"] == "put"
    assert args["f"] == "1"
    text = requests.post(
        web_url(api, "default/echo.json"),
        data="plain words",
        headers={"Content-Type": "text/plain"},
        timeout=10,
    )
    assert text.json()["__ow_body"] == "plain words"
    binary = requests.post(
        web_url(api, "default/echo.json"), data=b"\x00\x01", headers={"Content-Type": "image/png"}, timeout=10
    )
    assert binary.json()["__ow_body"] == base64.b64encode(b"\x00\x01").decode()


def test_http_extension_is_the_default(api: Api) -> None:
    _export(api, "echo")
    response = requests.post(
        web_url(api, "default/echo"),
        json={"statusCode": 201, "headers": {"X-A": ["1", "2"], "X-B": True}, "body": "<b>hi</b>"},
        timeout=10,
    )
    assert response.status_code == 201
    assert response.text == "<b>hi</b>"
    assert response.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert response.headers["X-A"] == "1, 2"
    assert response.headers["X-B"] == "true"
    assert "x-openwhisk-activation-id" in response.headers


@pytest.mark.parametrize(
    ("result", "status", "body", "content_type"),
    [
        (
            {"body": base64.b64encode(b"\x89PNG").decode(), "headers": {"Content-Type": "image/png"}},
            200,
            b"\x89PNG",
            "image/png",
        ),
        ({"body": {"a": 1}}, 200, b'{"a":1}', "application/json"),
        ({"body": ""}, 204, b"", None),
        ({"statusCode": "302", "headers": {"Location": "/x"}}, 302, b"", None),
        ({"body": {"a": 1}, "headers": {"Content-Type": "text/plain"}}, 400, None, None),
        ({"statusCode": "abc"}, 400, None, None),
        ({"body": "!!", "headers": {"Content-Type": "image/png"}}, 400, None, None),
    ],
)
def test_http_transcoding(
    api: Api, result: dict[str, Any], status: int, body: bytes | None, content_type: str | None
) -> None:
    _export(api, "echo")
    response = requests.post(
        web_url(api, "default/echo.http"), json=result, timeout=10, allow_redirects=False
    )
    assert response.status_code == status, response.text
    if body is not None:
        assert response.content == body
    else:
        assert "error" in response.json()
    if content_type is not None:
        assert response.headers["Content-Type"] == content_type


def test_other_extensions(api: Api) -> None:
    _export(api, "echo")
    html = requests.post(web_url(api, "default/echo.html"), json={"html": "<p>x</p>"}, timeout=10)
    assert (html.status_code, html.text, html.headers["Content-Type"]) == (
        200,
        "<p>x</p>",
        "text/html; charset=utf-8",
    )
    svg = requests.post(web_url(api, "default/echo.svg"), json={"svg": "<svg/>"}, timeout=10)
    assert (svg.status_code, svg.headers["Content-Type"]) == (200, "image/svg+xml")
    text = requests.post(web_url(api, "default/echo.text"), json={"text": {"a": 1}}, timeout=10)
    assert (text.status_code, text.text) == (200, '{\n  "a": 1\n}')
    missing = requests.get(web_url(api, "default/echo.text"), timeout=10)
    assert missing.status_code == 404
    assert missing.json()["error"] == "Response does not include requested property."
    bad = requests.get(web_url(api, "default/echo.html"), timeout=10)
    assert (bad.status_code, bad.json()["error"]) == (400, "Response is not valid 'text/html'.")


def test_raw_http_gets_query_and_body_unparsed(api: Api) -> None:
    _export(api, "raw", ECHO, {"key": "raw-http", "value": True})
    response = requests.post(
        web_url(api, "default/raw.json") + "?a=1&b=%20",
        json={"x": 1},
        timeout=10,
    )
    args = response.json()
    assert args["__ow_query"] == "a=1&b=%20"
    assert base64.b64decode(args["__ow_body"]) == b'{"x": 1}'  # JSON is base64 in raw mode (legacy)
    assert "x" not in args
    empty = requests.get(web_url(api, "default/raw.json"), timeout=10).json()
    assert empty["__ow_body"] == ""


def test_reserved_and_final_parameters_cannot_be_overridden(api: Api) -> None:
    _export(api, "fin", ECHO, {"key": "final", "value": True}, parameters=[{"key": "p", "value": 1}])
    for url in (web_url(api, "default/fin.json?__ow_method=x"), web_url(api, "default/fin.json?p=2")):
        response = requests.get(url, timeout=10)
        assert response.status_code == 400
        assert response.json()["error"] == (
            "Request defines parameters that are not allowed (e.g., reserved properties)."
        )
    assert requests.get(web_url(api, "default/fin.json?q=2"), timeout=10).json()["p"] == 1


def test_require_whisk_auth_secret_and_key(api: Api) -> None:
    _export(api, "secret", ECHO, {"key": "require-whisk-auth", "value": "s3cret"})
    assert requests.get(web_url(api, "default/secret.json"), timeout=10).status_code == 401
    wrong = requests.get(
        web_url(api, "default/secret.json"), headers={"X-Require-Whisk-Auth": "x"}, timeout=10
    )
    assert wrong.status_code == 401
    ok = requests.get(
        web_url(api, "default/secret.json"), headers={"X-Require-Whisk-Auth": "s3cret"}, timeout=10
    )
    assert ok.status_code == 200
    _export(api, "keyed", ECHO, {"key": "require-whisk-auth", "value": True})
    assert requests.get(web_url(api, "default/keyed.json"), timeout=10).status_code == 401
    user, key = api.session.auth  # type: ignore[misc]
    assert requests.get(web_url(api, "default/keyed.json"), auth=(user, key), timeout=10).status_code == 200


def test_cors_and_options(api: Api) -> None:
    _export(api, "echo")
    preflight = requests.options(
        web_url(api, "default/echo.json"), headers={"Access-Control-Request-Headers": "X-Foo"}, timeout=10
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert preflight.headers["Access-Control-Allow-Methods"] == "OPTIONS, GET, DELETE, POST, PUT, HEAD, PATCH"
    assert preflight.headers["Access-Control-Allow-Headers"] == "X-Foo"
    _export(api, "custom", ECHO, {"key": "web-custom-options", "value": True})
    handled = requests.options(web_url(api, "default/custom.json"), timeout=10)
    assert handled.status_code == 200
    assert handled.json()["__ow_method"] == "options"  # the action answered
    assert "Access-Control-Allow-Origin" not in handled.headers


def test_errors_of_the_action(api: Api) -> None:
    _export(api, "fail", FAIL)
    app_error = requests.post(
        web_url(api, "default/fail.http"), json={"msg": {"statusCode": 418, "body": "teapot"}}, timeout=10
    )
    assert (app_error.status_code, app_error.text) == (418, "teapot")  # the error field is the response
    _export(api, "dev", DEVFAIL)
    dev = requests.get(web_url(api, "default/dev.json"), timeout=10)
    assert dev.status_code == 400
    assert dev.json()["error"] == "There was an error processing your request."
    assert "x-openwhisk-activation-id" in dev.headers


def test_web_actions_in_packages_get_package_parameters(api: Api) -> None:
    api.request("PUT", "/packages/tools", json={"parameters": [{"key": "from_pkg", "value": "p"}]})
    response = api.put_action("tools/echo", ECHO, annotations=[WEB])
    assert response.status_code == 200
    args = requests.get(web_url(api, "tools/echo.json"), timeout=10).json()
    assert args["from_pkg"] == "p"
    assert requests.get(web_url(api, "default/echo.json"), timeout=10).status_code == 404


def test_payload_over_the_limit_is_413(api: Api) -> None:
    _export(api, "echo")
    response = requests.post(web_url(api, "default/echo.json"), data=b"x" * 1_048_577, timeout=10)
    assert response.status_code == 413


def test_ow_headers_leave_out_the_entity_headers(api: Api) -> None:
    """Pekko keeps Content-Length and Transfer-Encoding in the entity, so OpenWhisk never passes them."""
    _export(api, "echo")
    args = requests.post(web_url(api, "default/echo.json"), json={"a": 1}, timeout=10).json()
    assert args["__ow_headers"]["content-type"] == "application/json"
    assert "content-length" not in args["__ow_headers"]
    chunked = requests.post(
        web_url(api, "default/echo.json"),
        data=iter([b'{"b": ', b"2}"]),
        headers={"Content-Type": "application/json"},
        timeout=10,
    ).json()
    assert chunked["b"] == 2
    assert "transfer-encoding" not in chunked["__ow_headers"]


def test_require_whisk_auth_of_another_type_refuses_and_false_allows(api: Api) -> None:
    """``confirmAuthenticated``: null (or an object) is "not allowed", ``false`` lets everyone in."""
    _export(api, "nulled", ECHO, {"key": "require-whisk-auth", "value": None})
    user, key = api.session.auth  # type: ignore[misc]
    nulled = requests.get(web_url(api, "default/nulled.json"), auth=(user, key), timeout=10)
    assert nulled.status_code == 401
    _export(api, "open", ECHO, {"key": "require-whisk-auth", "value": False})
    assert requests.get(web_url(api, "default/open.json"), timeout=10).status_code == 200


def test_empty_body_with_a_content_type_is_an_empty_ow_body(api: Api) -> None:
    """An empty body that names a content type is still a body in Pekko (JSON/form ones merge nothing)."""
    _export(api, "echo")
    url = web_url(api, "default/echo.json")
    text = requests.post(url, data=b"", headers={"Content-Type": "text/plain"}, timeout=10).json()
    assert text["__ow_body"] == ""
    json_ct = requests.post(url, data=b"", headers={"Content-Type": "application/json"}, timeout=10).json()
    assert "__ow_body" not in json_ct
    bare = requests.get(url, timeout=10).json()
    assert "__ow_body" not in bare
