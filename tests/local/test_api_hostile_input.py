"""Malformed transport input gets 400 in OpenWhisk's error envelope (never a 500 or plain text).

Content-Encoding the body does not match, non-UTF-8 ``X-Request-ID`` bytes, and entity names outside
OpenWhisk's ASCII-only ``EntityName`` rule.
"""

from __future__ import annotations

import gzip
import zlib

import pytest
import requests

from .conftest import ECHO, Api

BODY = b'{"exec": {"kind": "python:3.11", "code": "fake: echo"}}'


def _envelope(response: requests.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    body = response.json()
    assert set(body) == {"error", "code"}
    assert len(body["code"]) == 32
    return str(body["error"])


def _put(api: Api, name: str, data: bytes, encoding: str) -> requests.Response:
    headers = {"Content-Type": "application/json", "Content-Encoding": encoding}
    return api.request("PUT", f"/actions/{name}", data=data, headers=headers)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_body_that_is_not_what_content_encoding_says_is_400(api: Api, encoding: str) -> None:
    error = _envelope(_put(api, "a", BODY, encoding), 400)
    assert error.startswith(
        f"The request content was malformed:\nThe request's Content-Encoding is {encoding}"
    )
    invoke = api.request(
        "POST",
        "/actions/a",
        data=b"{}",
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert invoke.status_code == 400


def test_truncated_gzip_is_400(api: Api) -> None:
    error = _envelope(_put(api, "a", gzip.compress(BODY)[:-12], "gzip"), 400)
    assert "truncated" in error


def test_unknown_encoding_is_400_naming_the_accepted_ones(api: Api) -> None:
    error = _envelope(_put(api, "a", BODY, "br"), 400)
    assert (
        error == "The request's Content-Encoding 'br' is not supported. Expected:\ngzip, deflate or identity"
    )


@pytest.mark.parametrize(("encoding", "pack"), [("gzip", gzip.compress), ("deflate", zlib.compress)])
def test_well_encoded_bodies_are_decoded(api: Api, encoding: str, pack: object) -> None:
    assert callable(pack)
    created = _put(api, "a", pack(BODY), encoding)
    assert created.status_code == 200
    assert created.json()["exec"]["code"] == ECHO
    invoke = api.request(
        "POST",
        "/actions/a",
        params={"blocking": "true", "result": "true"},
        data=pack(b'{"x": 1}'),
        headers={"Content-Type": "application/json", "Content-Encoding": encoding},
    )
    assert invoke.json() == {"x": 1}


def test_a_compression_bomb_stops_at_the_payload_limit(api: Api) -> None:
    api.put_action("a")
    bomb = gzip.compress(b'{"x": "' + b"0" * 3_000_000 + b'"}')
    invoke = api.request(
        "POST",
        "/actions/a",
        params={"blocking": "true"},
        data=bomb,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert _envelope(invoke, 413).startswith("Request larger than allowed: more than 1048576 bytes")


@pytest.mark.parametrize("raw", [b"\xff\xfeab", b"caf\xe9", b"\xc3\x28"])
def test_request_id_that_is_not_utf8_text_is_400(api: Api, raw: bytes) -> None:
    for path in ("/actions", "/actions/missing"):
        response = api.request("GET", path, headers={"X-Request-ID": raw})
        error = _envelope(response, 400)
        assert error.startswith("The value of HTTP header 'X-Request-ID' was malformed")


def test_utf8_request_id_is_the_transaction_id(api: Api) -> None:
    response = api.request("GET", "/actions/missing", headers={"X-Request-ID": "caf\u00e9".encode()})
    assert response.status_code == 404
    assert response.json()["code"] == "caf\u00e9"


@pytest.mark.parametrize("name", ["\u65e5\u672c\u8a9e", "h\u00e9llo", "a\u00b2", "\u0661\u0662"])
def test_non_ascii_entity_names_are_illegal(api: Api, name: str) -> None:
    error = _envelope(api.put_action(name), 400)
    assert error == "The name of the entity contains illegal characters."
    assert api.put_action(f"{name}x", kind="python:3.11").status_code == 400
    sequence = api.put_sequence("s", [f"/_/{name}"])
    assert _envelope(sequence, 400).startswith("The request content was malformed:\nrequirement failed")
    assert api.get(f"/activations?name={name}").status_code == 400


def test_ascii_names_with_every_allowed_character_still_work(api: Api) -> None:
    assert api.put_action("A_b-c.d@e&f 1").status_code == 200
