"""Controller basics over real HTTP: info routes, auth (401/403), error envelope, CORS, transaction ids."""

from __future__ import annotations

import requests

from pytest_openwhisk.local.config import GUEST_AUTH
from pytest_openwhisk.local.server import LocalOpenWhisk

from .conftest import Api, FakeInvoker

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": (
        "Authorization, Origin, X-Requested-With, Content-Type, Accept, User-Agent"
    ),
    "Access-Control-Allow-Methods": "GET, DELETE, POST, PUT, HEAD",
}


def assert_envelope(response: requests.Response, status: int, error: str) -> dict[str, str]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "code"}
    assert body["error"] == error
    assert len(body["code"]) == 32
    return body  # type: ignore[no-any-return]


def test_root_ping_and_api_info(api: Api) -> None:
    root = requests.get(api.apihost + "/", timeout=10).json()
    assert root["description"] == "OpenWhisk"
    assert root["api_paths"] == ["/api/v1"]
    assert root["limits"]["actions_per_minute"] == 60
    assert root["limits"]["concurrent_actions"] == 30
    assert root["limits"]["max_action_memory"] == 512 * 1024 * 1024
    assert "python" in root["runtimes"]
    assert "nodejs" in root["runtimes"]
    ping = requests.get(api.apihost + "/ping", timeout=10)
    assert (ping.status_code, ping.text) == (200, "pong")
    info = requests.get(api.apihost + "/api/v1", timeout=10).json()
    assert info["description"] == "OpenWhisk API"
    assert info["api_version"] == "1.0.0"
    assert info["api_version_path"] == "v1"
    docs = requests.get(api.apihost + "/api/v1" + info["swagger_paths"]["api-docs"], timeout=10)
    assert docs.status_code == 200
    swagger = docs.json()
    assert (swagger["swagger"], swagger["basePath"]) == ("2.0", "/api/v1")
    assert "Apache License" in swagger["x-source"]["license"]
    assert len([m for ops in swagger["paths"].values() for m in ops if m != "parameters"]) == 33


def test_namespaces_and_limits(api: Api) -> None:
    assert api.get(api.apihost + "/api/v1/namespaces").json() == ["guest"]
    limits = api.get("/limits").json()
    assert limits["invocationsPerMinute"] == 60
    assert limits["concurrentInvocations"] == 30
    assert (limits["minActionMemory"], limits["maxActionMemory"]) == (128, 512)
    assert (limits["minActionTimeout"], limits["maxActionTimeout"]) == (100, 300_000)
    assert limits["maxParameterSize"] == "1 MB"
    assert api.get(api.apihost + "/api/v1/namespaces/guest/limits").status_code == 200


def test_missing_and_invalid_credentials_are_401_with_www_authenticate(api: Api) -> None:
    url = api.base + "/actions"
    missing = requests.get(url, timeout=10)
    assert_envelope(
        missing, 401, "The resource requires authentication, which was not supplied with the request"
    )
    assert missing.headers["WWW-Authenticate"] == 'Basic realm="OpenWhisk secure realm"'
    user = GUEST_AUTH.split(":")[0]
    wrong = requests.get(url, auth=(user, "nope"), timeout=10)
    assert_envelope(wrong, 401, "The supplied authentication is invalid")
    assert wrong.headers["WWW-Authenticate"] == 'Basic realm="OpenWhisk secure realm"'
    garbage = requests.get(url, headers={"Authorization": "Basic %%%"}, timeout=10)
    assert_envelope(garbage, 401, "The supplied authentication is invalid")
    bearer = requests.get(url, headers={"Authorization": "Bearer x"}, timeout=10)
    assert_envelope(bearer, 401, "The supplied authentication is invalid")
    admin = requests.get(api.apihost + "/admin/v1/pool", timeout=10)
    assert admin.status_code == 401


def test_guest_key_is_not_accepted_unless_configured(api: Api) -> None:
    user, _, key = GUEST_AUTH.partition(":")
    response = requests.get(api.base + "/actions", auth=(user, key), timeout=10)
    assert response.status_code == 401


def test_other_namespace_is_403_with_fqname(api: Api) -> None:
    other = Api(api.apihost, ":".join(api.session.auth), ns="someone")  # type: ignore[arg-type]
    assert_envelope(
        other.get("/actions/hello"),
        403,
        "The supplied authentication is not authorized to access 'someone/hello'.",
    )
    assert_envelope(
        other.get("/actions"), 403, "The supplied authentication is not authorized to access 'someone'."
    )
    assert_envelope(
        other.invoke("pkg/act"),
        403,
        "The supplied authentication is not authorized to access 'someone/pkg/act'.",
    )
    own = Api(api.apihost, ":".join(api.session.auth), ns="guest")  # type: ignore[arg-type]
    assert own.get("/actions").status_code == 200


def test_unknown_route_404_and_wrong_method_405(api: Api) -> None:
    assert_envelope(api.get("/nothing-here"), 404, "The requested resource could not be found.")
    assert_envelope(api.get("/actions/missing"), 404, "The requested resource does not exist.")
    not_allowed = api.request("PATCH", "/actions/x")
    assert not_allowed.status_code == 405
    assert not_allowed.json()["error"].startswith("HTTP method not allowed, supported methods: ")
    assert "PUT" in not_allowed.json()["error"]


def test_x_request_id_becomes_the_transaction_id(api: Api) -> None:
    response = api.get("/actions/missing", headers={"X-Request-ID": "my-transaction-0001"})
    assert response.json()["code"] == "my-transaction-0001"


def test_every_api_response_has_cors_headers(api: Api) -> None:
    for response in (
        api.get("/actions"),
        api.get("/actions/missing"),
        requests.get(api.base, timeout=10),
        requests.get(api.apihost + "/api/v1", timeout=10),
    ):
        for header, value in CORS.items():
            assert response.headers[header] == value


def test_cors_preflight_needs_no_auth(api: Api) -> None:
    response = requests.options(api.base + "/actions/hello", timeout=10)
    assert response.status_code == 200
    for header, value in CORS.items():
        assert response.headers[header] == value


def test_malformed_json_is_400_and_wrong_content_type_415(api: Api) -> None:
    bad = api.request("PUT", "/actions/a", data=b"{not json", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400
    assert bad.json()["error"].startswith("The request content was malformed:\n")
    form = api.request(
        "PUT", "/actions/a", data=b"a=1", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert_envelope(form, 415, "The request's Content-Type is not supported. Expected:\napplication/json")


def test_admin_pool_and_evict(server_api: tuple[LocalOpenWhisk, Api], fake_invoker: FakeInvoker) -> None:
    server, api = server_api
    pool = api.get(api.apihost + "/admin/v1/pool").json()
    assert pool["containers"] == {"prewarm": 0, "idle": 1, "busy": 0}
    assert pool["limits"]["concurrentInvocations"] == 30
    assert pool["pool_config"]["user_memory_mb"] == 2048
    assert "auth" not in str(pool).lower()
    evicted = api.request("POST", api.apihost + "/admin/v1/evict", json={"path": "guest/hello"})
    assert evicted.json() == {"evicted": 2}
    assert api.request("POST", api.apihost + "/admin/v1/evict", json={}).json() == {"evicted": 2}
    assert server.evict("hello") == 2
    assert server.evict("/_/pkg/a") == 2
    assert server.evict() == 2
    assert fake_invoker.evictions == [
        (None, "guest/hello"),
        (None, None),
        (None, "guest/hello"),
        (None, "guest/pkg/a"),
        (None, None),
    ]
    assert server.pool_stats()["memory_mb"] == {"used": 256, "budget": 2048}
    bad = api.request("POST", api.apihost + "/admin/v1/evict", json={"path": 3})
    assert bad.status_code == 400
