"""Activations collection (§1.6): summaries, paging, since/upto, name filter, docs, count, get/logs/result."""

from __future__ import annotations

import time
from typing import Any

import pytest

from pytest_openwhisk.wait import wait_until

from .conftest import FAIL, Api


def _past_ms(stamp: int) -> None:
    """Wait (without a bare sleep) until the clock is past ``stamp`` (epoch ms): the next stamp differs."""
    wait_until(lambda: time.time() * 1000 > stamp + 1, what="the next millisecond", timeout=5, interval=0.001)


def _run(api: Api, name: str, n: int) -> list[dict[str, Any]]:
    records = []
    for i in range(n):
        records.append(api.invoke(name, {"i": i}).json())
        end = records[-1]["end"]  # distinct start stamps (ms): the next one starts after this one ended
        _past_ms(end)
    return records


def test_list_is_newest_first_with_view_summaries(api: Api) -> None:
    api.put_action("a")
    records = _run(api, "a", 3)
    listed = api.get("/activations").json()
    assert [x["activationId"] for x in listed] == [r["activationId"] for r in reversed(records)]
    summary = listed[0]
    assert set(summary) == {
        "namespace",
        "name",
        "version",
        "publish",
        "annotations",
        "activationId",
        "start",
        "end",
        "duration",
        "statusCode",
    }
    assert summary["statusCode"] == 0
    assert summary["duration"] == summary["end"] - summary["start"]
    docs = api.get("/activations", params={"docs": "true"}).json()
    assert docs[0] == api.activation(records[-1]["activationId"]).json()
    assert docs[0]["logs"]
    assert "statusCode" not in docs[0]


def test_paging_count_and_limits(api: Api) -> None:
    api.put_action("a")
    records = _run(api, "a", 5)
    ids = [r["activationId"] for r in reversed(records)]
    assert [x["activationId"] for x in api.get("/activations", params={"limit": 2}).json()] == ids[:2]
    assert [x["activationId"] for x in api.get("/activations", params={"limit": 2, "skip": 2}).json()] == ids[
        2:4
    ]
    assert api.get("/activations", params={"skip": 10}).json() == []
    assert api.get("/activations", params={"count": "true"}).json() == {"activations": 5}
    assert api.get("/activations", params={"count": "true", "skip": 3}).json() == {"activations": 2}
    both = api.get("/activations", params={"count": "true", "docs": "true"})
    assert both.status_code == 400
    assert both.json()["error"] == "The parameter 'docs' is not permitted with 'count'."
    too_many = api.get("/activations", params={"limit": 201})
    assert too_many.json()["error"] == (
        "The query parameter 'limit' was malformed:\n"
        "The value '201' is not in the range of 0 to 200 for activations."
    )


def test_since_and_upto_are_inclusive_epoch_millis(api: Api) -> None:
    api.put_action("a")
    records = _run(api, "a", 4)
    starts = [r["start"] for r in records]
    listed = api.get("/activations", params={"since": starts[1], "upto": starts[2]}).json()
    assert [x["start"] for x in listed] == [starts[2], starts[1]]
    assert len(api.get("/activations", params={"since": starts[3] + 1}).json()) == 0
    assert api.get("/activations", params={"count": "true", "upto": starts[0]}).json() == {"activations": 1}
    bad = api.get("/activations", params={"since": "yesterday"})
    assert bad.status_code == 400
    assert bad.json()["error"] == (
        "The query parameter 'since' was malformed:\n"
        "Parameter is not a valid value for epoch seconds: yesterday"
    )


def test_name_filter_simple_and_packaged(api: Api) -> None:
    api.put_action("a")
    api.put_action("b")
    api.request("PUT", "/packages/pkg", json={})
    api.put_action("pkg/a")
    api.invoke("a")
    api.invoke("b")
    api.invoke("pkg/a")
    api.invoke("a")
    assert len(api.get("/activations", params={"name": "a"}).json()) == 2
    assert [x["name"] for x in api.get("/activations", params={"name": "b"}).json()] == ["b"]
    packaged = api.get("/activations", params={"name": "pkg/a"}).json()
    assert len(packaged) == 1
    assert packaged[0]["annotations"][1] == {"key": "path", "value": "guest/pkg/a"}
    assert api.get("/activations", params={"name": "a", "count": "true"}).json() == {"activations": 2}
    assert len(api.get("/activations", params={"name": ""}).json()) == 4
    bad = api.get("/activations", params={"name": "x/y/z"})
    assert bad.status_code == 400
    assert bad.json()["error"] == (
        "The query parameter 'name' was malformed:\n"
        "Parameter may be a 'simple' name or 'package-name/simple' name: x/y/z"
    )


def test_get_logs_and_result(api: Api) -> None:
    api.put_action("a")
    api.put_action("f", code=FAIL)
    ok = api.invoke("a", {"v": 1}).json()
    activation_id = ok["activationId"]
    assert api.activation(activation_id, "/logs").json() == {
        "logs": ["2024-01-01T00:00:00.000000000Z  stdout: echo a"]
    }
    assert api.activation(activation_id, "/result").json() == {
        "status": "success",
        "success": True,
        "result": {"v": 1},
        "size": 7,
    }
    failed = api.invoke("f", {"msg": "m"}).json()["activationId"]
    assert api.activation(failed, "/result").json() == {
        "status": "application error",
        "success": False,
        "result": {"error": "m"},
        "size": 13,
    }


@pytest.mark.parametrize(
    ("activation_id", "status", "message"),
    [
        ("abc", 400, "Activation id length is 3 but must be 32."),
        ("0" * 33, 400, "Activation id length is 33 but must be 32."),
        ("G" * 32, 400, "The activation id is not valid."),
        ("A" * 32, 400, "The activation id is not valid."),
        ("0" * 32, 404, "The requested resource does not exist."),
    ],
)
def test_bad_or_unknown_activation_ids(api: Api, activation_id: str, status: int, message: str) -> None:
    for suffix in ("", "/logs", "/result"):
        response = api.activation(activation_id, suffix)
        assert response.status_code == status
        assert response.json()["error"] == message


def test_activations_of_another_namespace_are_403(api: Api) -> None:
    other = Api(api.apihost, ":".join(api.session.auth), ns="other")  # type: ignore[arg-type]
    response = other.get("/activations")
    assert response.status_code == 403
    assert response.json()["error"] == "The supplied authentication is not authorized to access 'other'."
