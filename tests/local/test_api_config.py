"""``LocalConfig.kinds`` (offered runtime kinds) and ``LocalConfig.tls_cert``/``tls_key`` (HTTPS)."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from pytest_openwhisk.errors import BackendError
from pytest_openwhisk.local import LocalOpenWhisk, LocalOpenWhiskProcess
from pytest_openwhisk.local.config import LocalConfig, PoolConfig
from pytest_openwhisk.local.process import config_from_json, config_to_json
from tests.plugin.certs import self_signed

from .conftest import ECHO, Api, FakeInvoker


def test_kinds_limit_the_manifest_and_put(fake_invoker: FakeInvoker) -> None:
    config = LocalConfig(port=0, kinds=("python:3.10", "nodejs:20"))
    with LocalOpenWhisk(config, invoker=fake_invoker) as ow:
        api = Api(ow.apihost, ow.auth)
        runtimes = requests.get(ow.apihost + "/", timeout=10).json()["runtimes"]
        assert {fam: [(e["kind"], e["default"]) for e in entries] for fam, entries in runtimes.items()} == {
            "nodejs": [("nodejs:20", True)],
            "python": [("python:3.10", True)],
        }
        assert api.put_action("a", kind="python:3.10").status_code == 200
        default = api.put_action("b", kind="python:default")
        assert default.json()["exec"]["kind"] == "python:3.10"  # the family default among those offered
        refused = api.put_action("c", kind="python:3.11")
        assert refused.status_code == 400
        assert refused.json()["error"] == (
            "The request content was malformed:\nThe specified runtime 'python:3.11' is not supported by "
            "this platform. Valid values are: python:3.10, nodejs:20, python:default, nodejs:default."
        )
        api.close()


def test_all_kinds_by_default(fake_invoker: FakeInvoker) -> None:
    with LocalOpenWhisk(LocalConfig(port=0), invoker=fake_invoker) as ow:
        runtimes = requests.get(ow.apihost + "/", timeout=10).json()["runtimes"]
        kinds = {e["kind"] for entries in runtimes.values() for e in entries}
        assert {"python:3.11", "python:3.12", "nodejs:18", "nodejs:20"} <= kinds


@pytest.mark.parametrize(("kinds", "named"), [(("python:9",), "unknown kind(s) 'python:9'"), ((), "no kind")])
def test_bad_kinds_are_refused_with_the_fix(
    fake_invoker: FakeInvoker, kinds: tuple[str, ...], named: str
) -> None:
    with pytest.raises(Exception, match=r"LocalConfig.kinds names .*use None \(every kind\)") as info:
        LocalOpenWhisk(LocalConfig(port=0, kinds=kinds), invoker=fake_invoker).__enter__()
    assert named in str(info.value)


def test_new_fields_survive_the_trip_to_the_child() -> None:
    config = LocalConfig(kinds=("python:3.11",), tls_cert="/c.pem", tls_key="/k.pem")
    back = config_from_json(config_to_json(config))
    assert (back.kinds, back.tls_cert, back.tls_key) == (("python:3.11",), "/c.pem", "/k.pem")
    assert config_from_json(config_to_json(LocalConfig())).kinds is None


def test_tls_serves_https(fake_invoker: FakeInvoker, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, "127.0.0.1", ca=True)
    with LocalOpenWhisk(LocalConfig(port=0, tls_cert=cert, tls_key=key), invoker=fake_invoker) as ow:
        assert ow.apihost.startswith("https://127.0.0.1:")
        api = Api(ow.apihost, ow.auth)
        api.session.verify = cert
        api.session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
        assert api.put_action("echo", ECHO).status_code == 200
        assert api.invoke("echo", {"x": 1}, result=True).json() == {"x": 1}
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(ow.apihost.replace("https:", "http:") + "/ping", timeout=10)
        api.close()


def test_tls_in_the_child_process(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, "127.0.0.1", ca=True)
    config = LocalConfig(port=0, tls_cert=cert, tls_key=key, pool=PoolConfig(prewarm=()))
    with LocalOpenWhiskProcess(config) as ow:
        assert ow.apihost.startswith("https://")
        with requests.Session() as session:
            session.trust_env = False
            assert session.get(ow.apihost + "/ping", timeout=10, verify=cert).text == "pong"
        assert ow.evict() >= 0


@pytest.mark.parametrize(
    ("cert", "key", "message"),
    [
        ("c.pem", None, "LocalConfig.tls_cert is set but tls_key is not"),
        (None, "k.pem", "LocalConfig.tls_key is set but tls_cert is not"),
        ("missing.pem", "missing.pem", "cannot load the TLS pair tls_cert='missing.pem'"),
    ],
)
def test_bad_tls_settings_name_the_fix(
    fake_invoker: FakeInvoker, cert: str | None, key: str | None, message: str
) -> None:
    with pytest.raises(BackendError, match=message):
        LocalOpenWhisk(LocalConfig(port=0, tls_cert=cert, tls_key=key), invoker=fake_invoker).__enter__()
