"""Triggers and rules: CRUD, enable/disable, fire -> trigger record + rule activations, firesPerMinute."""

from __future__ import annotations

import json
from typing import Any

from pytest_openwhisk.wait import wait_until

from .conftest import ECHO, Api, ServerFactory


def _kv(**params: Any) -> list[dict[str, Any]]:
    return [{"key": k, "value": v} for k, v in params.items()]


def _stored(api: Api, activation_id: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        response = api.activation(activation_id)
        return dict(response.json()) if response.ok else None

    return wait_until(probe, what=f"activation {activation_id}", timeout=30)


def _setup(api: Api) -> None:
    assert api.request("PUT", "/triggers/t", json={"parameters": _kv(tp="trigger", x="trigger")}).ok
    assert api.put_action("a", ECHO, parameters=_kv(ap="action")).ok
    rule = api.request("PUT", "/rules/r", json={"trigger": "/_/t", "action": "/_/a"})
    assert rule.status_code == 200, rule.text
    assert rule.json()["status"] == "active"


def test_trigger_crud(api: Api) -> None:
    created = api.request("PUT", "/triggers/t", json={"parameters": _kv(a=1)}).json()
    assert (created["name"], created["limits"], created["parameters"]) == ("t", {}, _kv(a=1))
    assert "rules" not in created
    assert api.request("PUT", "/triggers/t", json={}).status_code == 409
    updated = api.request("PUT", "/triggers/t", params={"overwrite": "true"}, json={"publish": True}).json()
    assert (updated["version"], updated["publish"]) == ("0.0.2", True)
    [summary] = api.get("/triggers").json()
    assert set(summary) == {"namespace", "name", "version", "publish", "annotations", "updated"}
    assert api.get("/triggers", params={"count": "true"}).json() == {"triggers": 1}
    assert api.request("DELETE", "/triggers/t").json()["name"] == "t"
    assert api.get("/triggers/t").status_code == 404
    feed = api.request("PUT", "/triggers/f", json={"annotations": _kv(feed="not a path!")})
    assert (feed.status_code, feed.json()["error"]) == (400, "Feed name is not valid")


def test_fire_without_active_rule_is_204(api: Api) -> None:
    api.request("PUT", "/triggers/t", json={})
    response = api.request("POST", "/triggers/t", json={"x": 1})
    assert response.status_code == 204
    assert api.request("POST", "/triggers/missing", json={}).status_code == 404


def test_fire_runs_the_rule_and_records_it(api: Api) -> None:
    _setup(api)
    fired = api.request("POST", "/triggers/t", json={"x": "payload"}, headers={"X-Hook": "h"})
    assert fired.status_code == 202
    trigger_id = fired.json()["activationId"]
    assert fired.headers["x-openwhisk-activation-id"] == trigger_id
    record = _stored(api, trigger_id)
    assert record["name"] == "t"
    assert record["response"] == {"status": "success", "success": True, "result": {"x": "payload"}}
    assert "end" not in record
    assert "duration" not in record
    [line] = record["logs"]
    logged = json.loads(line)
    assert list(logged) == ["statusCode", "success", "activationId", "rule", "action"]
    assert (logged["statusCode"], logged["success"], logged["rule"], logged["action"]) == (
        0,
        True,
        "guest/r",
        "guest/a",
    )
    action_record = _stored(api, logged["activationId"])
    args = action_record["response"]["result"]
    assert (args["tp"], args["ap"], args["x"]) == (
        "trigger",
        "action",
        "payload",
    )  # payload over trigger params
    assert args["__ow_headers"]["x-hook"] == "h"
    assert "authorization" not in args["__ow_headers"]
    listed = [s for s in api.get("/activations").json() if s["activationId"] == trigger_id]
    assert listed
    assert "statusCode" not in listed[0]


def test_rule_state_changes(api: Api) -> None:
    _setup(api)
    disable = api.request("POST", "/rules/r", json={"status": "inactive"})
    assert (disable.status_code, disable.text) == (200, "OK")
    assert api.get("/rules/r").json()["status"] == "inactive"
    assert api.get("/triggers/t").json()["rules"] == {
        "guest/r": {"action": {"path": "guest", "name": "a"}, "status": "inactive"}
    }
    assert api.request("POST", "/triggers/t", json={}).status_code == 204
    assert api.request("POST", "/rules/r", json={"status": "inactive"}).status_code == 200  # no change: 200
    bad = api.request("POST", "/rules/r", json={"status": "paused"})
    assert bad.status_code == 400
    assert bad.json()["error"].endswith(
        "'paused' is not a recognized rule state, must be one of ['active', 'inactive']"
    )
    assert api.request("POST", "/rules/r", json={"status": "active"}).status_code == 200
    assert api.request("POST", "/triggers/t", json={}).status_code == 202


def test_rule_errors_and_delete(api: Api) -> None:
    api.request("PUT", "/triggers/t", json={})
    no_action = api.request("PUT", "/rules/r", json={"trigger": "/_/t", "action": "/_/missing"})
    assert (no_action.status_code, no_action.json()["error"]) == (400, "action /guest/missing does not exist")
    no_trigger = api.request("PUT", "/rules/r", json={"trigger": "nope", "action": "a"})
    assert (no_trigger.status_code, no_trigger.json()["error"]) == (400, "trigger /guest/nope does not exist")
    half = api.request("PUT", "/rules/r", json={"trigger": "/_/t"})
    assert (half.status_code, half.json()["error"]) == (
        400,
        "rule requires a valid trigger and a valid action",
    )
    api.put_action("a")
    api.request("PUT", "/rules/r", json={"trigger": "t", "action": "a"})
    listed = api.get("/rules").json()
    assert [(r["name"], r["trigger"], r["action"]) for r in listed] == [
        ("r", {"path": "guest", "name": "t"}, {"path": "guest", "name": "a"})
    ]
    deleted = api.request("DELETE", "/rules/r").json()
    assert deleted["status"] == "inactive"
    assert api.get("/triggers/t").json()["rules"] == {}
    api.request("PUT", "/rules/r2", json={"trigger": "t", "action": "a"})
    api.request("DELETE", "/triggers/t")
    assert api.get("/rules/r2").json()["status"] == "inactive"
    orphan = api.request("POST", "/rules/r2", json={"status": "active"})
    assert (orphan.status_code, orphan.json()["error"]) == (
        404,
        "Only rules with existing triggers can be activated",
    )


def test_rule_to_a_deleted_action_is_logged_as_an_application_error(api: Api) -> None:
    _setup(api)
    api.request("DELETE", "/actions/a")
    record = _stored(api, api.request("POST", "/triggers/t", json={}).json()["activationId"])
    assert json.loads(record["logs"][0]) == {
        "statusCode": 1,
        "success": False,
        "error": "The requested resource does not exist.",
        "rule": "guest/r",
        "action": "guest/a",
    }


def test_fires_per_minute(make_server: ServerFactory) -> None:
    _, api = make_server(fires_per_minute=2)
    api.request("PUT", "/triggers/t", json={})
    assert [api.request("POST", "/triggers/t", json={}).status_code for _ in range(2)] == [204, 204]
    third = api.request("POST", "/triggers/t", json={})
    assert third.status_code == 429
    assert third.json()["error"] == "Too many requests in the last minute (count: 3, allowed: 2)."
    assert api.invoke("missing").status_code == 404  # actions have their own throttle


def test_fire_logs_the_inactive_rules_too(api: Api) -> None:
    """``activateRules`` gets every rule of the trigger: an inactive one is logged, its action not invoked."""
    _setup(api)
    assert api.request("PUT", "/rules/r2", json={"trigger": "/_/t", "action": "/_/a"}).ok
    assert api.request("POST", "/rules/r2", json={"status": "inactive"}).status_code == 200
    record = _stored(api, api.request("POST", "/triggers/t", json={}).json()["activationId"])
    lines = sorted((json.loads(line) for line in record["logs"]), key=lambda line: str(line["rule"]))
    assert [line["rule"] for line in lines] == ["guest/r", "guest/r2"]
    assert lines[0]["success"] is True
    assert lines[1] == {
        "statusCode": 1,
        "success": False,
        "error": "Rule 'guest/r2' is inactive, action 'guest/a' was not activated.",
        "rule": "guest/r2",
        "action": "guest/a",
    }


def test_disabling_a_rule_whose_trigger_is_gone_is_a_no_op(api: Api) -> None:
    """Its status already reads inactive: OpenWhisk answers 200 (only activating needs the trigger)."""
    _setup(api)
    api.request("DELETE", "/triggers/t")
    response = api.request("POST", "/rules/r", json={"status": "inactive"})
    assert (response.status_code, response.text) == (200, "OK")
    assert api.get("/rules/r").json()["status"] == "inactive"
