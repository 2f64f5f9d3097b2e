"""Our Helm values: upstream keys only, benchmark-grade limits, layering, and a real Helm render."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pytest_openwhisk.errors import ConfigError
from pytest_openwhisk.kube.chart import check_chart_dir
from pytest_openwhisk.kube.render import render_release
from pytest_openwhisk.kube.values import (
    CHART_GUEST_AUTH,
    compose,
    guest_auth,
    load_values,
    merge,
    set_jvm_property,
    summary,
    values_dir,
)
from pytest_openwhisk.local.config import StemCell
from pytest_openwhisk.options import Settings
from tests.kube.upstream import chart_dir, env_of

HERE = Path(__file__).parent
UPSTREAM_KEYS = {
    line.strip()
    for line in (HERE / "data" / "openwhisk-deploy-kube-values-keys.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
}
OPENWHISK_FILES = ("openwhisk-kind.yaml", "openwhisk-cluster.yaml")
AUTH = "11111111-2222-3333-4444-555555555555:" + "k" * 64


def leaf_keys(data: dict[str, Any], prefix: str = "") -> list[str]:
    keys: list[str] = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            keys += leaf_keys(value, path + ".")
        else:
            keys.append(path)
    return keys


@pytest.mark.parametrize("name", OPENWHISK_FILES)
def test_every_key_we_set_exists_upstream(name: str) -> None:
    unknown = [k for k in leaf_keys(load_values(values_dir() / name)) if k not in UPSTREAM_KEYS]
    assert unknown == []


@pytest.mark.parametrize("name", OPENWHISK_FILES)
def test_values_are_benchmark_grade(name: str) -> None:
    values = load_values(values_dir() / name)
    limits = values["whisk"]["limits"]
    assert limits["actionsSequenceMaxlength"] >= 110  # the 100-step chain plus margin
    assert limits["actionsInvokesPerminute"] >= 5000
    assert limits["actionsInvokesConcurrent"] >= 1000
    assert values["invoker"]["containerFactory"]["impl"] == "kubernetes"
    assert values["metrics"] == {"prometheusEnabled": True, "userMetricsEnabled": True}
    assert "-Dwhisk.container-proxy.timeouts.idle-container=" in values["invoker"]["jvmOptions"]


def test_monitoring_values_scrape_every_second() -> None:
    values = load_values(values_dir() / "monitoring.yaml")
    spec = values["prometheus"]["prometheusSpec"]
    assert spec["scrapeInterval"] == "1s"
    assert values["prometheus"]["service"] == {"type": "NodePort", "nodePort": 30090}
    assert values["kubelet"]["serviceMonitor"]["cAdvisor"] is True


def settings(tmp_path: Path, **given: Any) -> Settings:
    return Settings(cluster="kind", sources=dict.fromkeys(given, "cli"), **given)


def test_compose_layers_file_then_options_then_user_overlays(tmp_path: Path) -> None:
    first = tmp_path / "a.yaml"
    first.write_text(
        "whisk:\n  containerPool:\n    userMemory: 1024m\n  limits:\n    actionsInvokesConcurrent: 7\n"
    )
    second = tmp_path / "b.yaml"
    second.write_text("whisk:\n  limits:\n    actionsInvokesConcurrent: 9\n")
    values = compose(
        settings(tmp_path, idle_timeout=15.0, user_memory=4096, auth=AUTH, values=(first, second)),
        "openwhisk-kind.yaml",
    )
    assert values["invoker"]["jvmOptions"] == "-Dwhisk.container-proxy.timeouts.idle-container=15s"
    assert values["whisk"]["containerPool"]["userMemory"] == "1024m"  # the user's file beats --ow-user-memory
    assert values["whisk"]["limits"]["actionsInvokesConcurrent"] == 9  # later file wins
    assert values["whisk"]["limits"]["actionsSequenceMaxlength"] == 200  # untouched keys stay
    assert guest_auth(values) == AUTH


def test_defaults_do_not_override_the_values_file(tmp_path: Path) -> None:
    values = compose(Settings(cluster="kind"), "openwhisk-kind.yaml")
    assert values == load_values(values_dir() / "openwhisk-kind.yaml")
    assert guest_auth(values) == CHART_GUEST_AUTH


def test_set_jvm_property_replaces_earlier_setting() -> None:
    opts = "-Xss1m -Dwhisk.container-proxy.timeouts.idle-container=10m"
    assert set_jvm_property(opts, "whisk.container-proxy.timeouts.idle-container", "500ms") == (
        "-Xss1m -Dwhisk.container-proxy.timeouts.idle-container=500ms"
    )


def test_merge_replaces_lists_and_keeps_inputs() -> None:
    base = {"a": {"b": [1, 2], "c": 1}}
    merged = merge(base, {"a": {"b": [3]}})
    assert merged == {"a": {"b": [3], "c": 1}}
    assert base == {"a": {"b": [1, 2], "c": 1}}


def test_bad_values_files_name_the_file(tmp_path: Path) -> None:
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(ConfigError) as info:
        load_values(listing)
    assert str(info.value) == (
        f"Helm values file {str(listing)!r} must hold a mapping of keys (like whisk: ...), not a list"
    )
    broken = tmp_path / "broken.yaml"
    broken.write_text("whisk: [\n")
    with pytest.raises(ConfigError, match=rf"Helm values file {str(broken)!r} is not valid YAML: "):
        load_values(broken)
    with pytest.raises(ConfigError, match=r"cannot read Helm values file '.*missing.yaml': No such file"):
        load_values(tmp_path / "missing.yaml")


def test_chart_folder_without_chart_yaml_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        check_chart_dir(tmp_path)
    assert f"chart {str(tmp_path)!r} (--ow-chart) is not a chart folder with Chart.yaml" in str(info.value)
    assert "openwhisk-deploy-kube/helm/openwhisk" in str(info.value)


def test_summary_has_no_secrets() -> None:
    values = compose(Settings(cluster="kind", auth=AUTH, sources={"auth": "cli"}), "openwhisk-kind.yaml")
    text = json.dumps(summary(values))
    assert AUTH.split(":")[1] not in text
    assert summary(values)["container_factory"] == "kubernetes"


def test_rendered_by_helm_engine(tmp_path: Path) -> None:
    """Our composed values rendered by a real Helm engine into the upstream chart."""
    chart = chart_dir()
    given = settings(tmp_path, idle_timeout=15.0, prewarm=(StemCell("python:3.11", 1),))
    given = replace(given, chart=str(chart), sources={**given.sources, "chart": "cli"})
    result = render_release(given, tmp_path / "work")
    invoker = result.find("StatefulSet", "owdev-invoker")
    env = env_of(invoker, "invoker")
    assert env["JAVA_OPTS"] == "-Xmx512M -Dwhisk.container-proxy.timeouts.idle-container=15s"
    assert env["LIMITS_ACTIONS_SEQUENCE_MAXLENGTH"] == "200"
    assert env["LIMITS_ACTIONS_INVOKES_PERMINUTE"] == "100000"
    assert env["CONFIG_whisk_containerPool_userMemory"] == "8192m"
    assert env["CONFIG_whisk_memory_max"] == "2048m"
    assert env["CONFIG_whisk_concurrencyLimit_max"] == "20"
    assert env["CONFIG_whisk_containerFactory_containerArgs_extraEnvVars_0"] == "__OW_ALLOW_CONCURRENT=true"
    assert env["CONFIG_whisk_userEvents_enabled"] == "true"
    manifest = json.loads(env["RUNTIMES_MANIFEST"])
    entries = {e["kind"]: e for family in manifest["runtimes"].values() for e in family}
    assert entries["python:3.11"]["stemCells"] == [{"initialCount": 1, "memory": "256 MB"}]
    assert "stemCells" not in entries["nodejs:20"]
    affinity = invoker["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
    term = affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
    assert term["matchExpressions"][0]["values"] == ["invoker"]
    service = result.find("Service", "owdev-nginx")
    assert service["spec"]["type"] == "NodePort"
    assert {p["name"]: p.get("nodePort") for p in service["spec"]["ports"]}["https"] == 31001
    config = result.find("ConfigMap", "owdev-whisk.config")["data"]
    assert config["whisk_external_api_host_name"] == "localhost"
