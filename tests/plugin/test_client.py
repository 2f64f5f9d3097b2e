"""``OpenWhiskClient`` against the real embedded server: CRUD, invoke variants, typed errors, paging."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_openwhisk.client import OpenWhiskClient, normalize_apihost
from pytest_openwhisk.errors import (
    ActivationFailed,
    BackendError,
    BadRequest,
    Conflict,
    NotFound,
    Unauthorized,
)
from pytest_openwhisk.local.config import random_auth

ECHO = "def main(args):\n    print('echo', args.get('x'))\n    return {'x': args.get('x')}\n"
FAIL = "def main(args):\n    raise RuntimeError('boom ' + str(args.get('x')))\n"


@pytest.fixture(scope="module")
def client(standalone: Any) -> Iterator[OpenWhiskClient]:
    """A client on the module's server, with an ``echo`` and a ``fail`` action deployed."""
    with standalone.client() as ow:
        ow.create_action("echo", ECHO)
        ow.create_action("fail", FAIL)
        yield ow


def test_normalize_apihost_like_wsk() -> None:
    assert normalize_apihost("openwhisk.example:443") == "https://openwhisk.example:443"
    assert normalize_apihost("http://127.0.0.1:3233/") == "http://127.0.0.1:3233"
    assert normalize_apihost(" https://h ") == "https://h"


def test_repr_hides_auth(standalone: Any) -> None:
    with standalone.client() as ow:
        assert standalone.auth.split(":")[1] not in repr(ow)
        assert "auth=***" in repr(ow)


def test_info_and_limits(client: OpenWhiskClient) -> None:
    info = client.info()
    assert "python" in info["runtimes"]
    assert client.api_info()["api_version"] == "1.0.0"
    assert client.limits()["maxActionMemory"] == 512


def test_action_crud_round_trip(client: OpenWhiskClient) -> None:
    created = client.create_action(
        "crud one", ECHO, memory=128, timeout=3000, params={"x": 5}, annotations={"team": "perf"}
    )
    assert created["name"] == "crud one"
    assert created["version"] == "0.0.1"
    stored = client.get_action("crud one")
    assert stored["exec"]["code"] == ECHO
    assert "code" not in client.get_action("crud one", code=False)["exec"]
    assert {"key": "team", "value": "perf"} in stored["annotations"]
    assert client.invoke_result("crud one") == {"x": 5}
    assert client.create_action("crud one", ECHO)["version"] == "0.0.2"
    names = [a["name"] for a in client.list_actions(limit=200)]
    assert "crud one" in names
    deleted = client.delete_action("crud one")
    assert deleted is not None
    assert deleted["name"] == "crud one"
    assert client.delete_action("crud one", missing_ok=True) is None
    with pytest.raises(NotFound):
        client.delete_action("crud one")


def test_conflict_without_overwrite_is_typed(client: OpenWhiskClient, standalone: Any) -> None:
    with pytest.raises(Conflict) as info:
        client.create_action("echo", ECHO, overwrite=False)
    error = info.value
    assert error.status == 409
    assert error.error == "resource already exists"
    assert error.code
    assert error.method == "PUT"
    assert "/actions/echo" in error.url
    assert str(error).startswith("HTTP 409 (PUT http://127.0.0.1:")
    assert standalone.auth.split(":")[1] not in str(error)


def test_not_found_and_bad_request_carry_server_message(client: OpenWhiskClient) -> None:
    with pytest.raises(NotFound, match="The requested resource does not exist"):
        client.get_action("no-such-action")
    with pytest.raises(BadRequest, match="The specified runtime 'cobol:1' is not supported by this platform"):
        client.create_action("cobol", "x", kind="cobol:1")
    with pytest.raises(BadRequest, match="Activation id length is 3 but must be 32"):
        client.get_activation("abc")


def test_wrong_key_is_unauthorized_without_leaking_it(standalone: Any) -> None:
    wrong = random_auth()
    with OpenWhiskClient(standalone.apihost, wrong) as ow, pytest.raises(Unauthorized) as info:
        ow.list_actions()
    assert info.value.status == 401
    assert wrong.split(":")[1] not in str(info.value)


def test_unreachable_host_is_backend_error() -> None:
    with OpenWhiskClient("http://127.0.0.1:9", random_auth(), timeout=2) as ow:
        with pytest.raises(
            BackendError, match=r"GET http://127\.0\.0\.1:9/api/v1/namespaces/_/limits failed"
        ):
            ow.limits()


def test_invoke_blocking_returns_timed_record(client: OpenWhiskClient) -> None:
    before = time.time()
    outcome = client.invoke("echo", {"x": 1})
    assert outcome.http_status == 200
    assert outcome.ok
    assert outcome.record is not None
    assert outcome.record["activationId"] == outcome.activation_id
    assert outcome.result == {"x": 1}
    assert before <= outcome.sent <= outcome.received
    assert outcome.latency_ms == pytest.approx((outcome.received - outcome.sent) * 1000, abs=2.0)


def test_invoke_result_only(client: OpenWhiskClient) -> None:
    outcome = client.invoke("echo", {"x": 2}, result=True)
    assert outcome.body == {"x": 2}
    assert outcome.record is None
    assert len(outcome.activation_id or "") == 32  # from the x-openwhisk-activation-id header


def test_invoke_non_blocking_then_wait(client: OpenWhiskClient) -> None:
    outcome = client.invoke("echo", {"x": 3}, blocking=False)
    assert outcome.http_status == 202
    assert outcome.activation_id is not None
    record = client.wait_activation(outcome.activation_id, timeout=30)
    assert record["response"]["result"] == {"x": 3}
    assert client.activation_result(outcome.activation_id)["result"] == {"x": 3}
    assert any("echo 3" in line for line in client.activation_logs(outcome.activation_id))


def test_failed_activation_is_returned_not_raised(client: OpenWhiskClient) -> None:
    outcome = client.invoke("fail", {"x": 1})
    assert outcome.http_status == 502
    assert outcome.record is not None
    assert outcome.record["response"]["status"] == "application error"
    with pytest.raises(ActivationFailed, match="boom 2") as info:
        client.invoke_result("fail", {"x": 2})
    assert info.value.status == 502


def test_invoke_errors_raise_unless_check_false(client: OpenWhiskClient) -> None:
    with pytest.raises(NotFound):
        client.invoke("missing")
    assert client.invoke("missing", check=False).http_status == 404
    with pytest.raises(BadRequest, match="Timeout must be number of milliseconds up to 60000"):
        client.invoke("echo", timeout_ms=70_000)


def test_sequence_and_fully_qualified_names(client: OpenWhiskClient, standalone: Any) -> None:
    client.create_action("inc", "def main(a):\n    return {'n': a.get('n', 0) + 1}\n")
    client.create_sequence("inc2", ["inc", "/_/inc"])
    assert client.invoke_result("inc2", {"n": 1}) == {"n": 3}
    assert client.get_action("/_/inc2")["exec"]["kind"] == "sequence"
    with pytest.raises(ValueError, match="invalid action name 'a/b/c'"):
        client.get_action("a/b/c")
    client.delete_action("inc2")
    client.delete_action("inc")


def test_activation_paging_and_filters(client: OpenWhiskClient) -> None:
    client.create_action("pager", ECHO)
    first_start = None
    ids = []
    for i in range(7):
        outcome = client.invoke("pager", {"x": i})
        ids.append(outcome.activation_id)
        if first_start is None and outcome.record:
            first_start = outcome.record["start"]
    page = client.list_activations("pager", limit=3)
    assert len(page) == 3
    assert [a["activationId"] for a in page] == ids[::-1][:3]
    second = client.list_activations("pager", limit=3, skip=3)
    assert [a["activationId"] for a in second] == ids[::-1][3:6]
    everything = list(client.iter_activations("pager", page_size=3))
    assert [a["activationId"] for a in everything] == ids[::-1]
    assert len(list(client.iter_activations("pager", page_size=3, max_items=4))) == 4
    docs = client.list_activations("pager", limit=1, docs=True)
    assert docs[0]["response"]["result"] == {"x": 6}
    assert first_start is not None
    later = list(client.iter_activations("pager", since=first_start + 1))
    assert ids[0] not in {a["activationId"] for a in later}
    client.delete_action("pager")
