"""Our Helm values: upstream keys only, benchmark-grade limits, layering, and a real Helm render."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_openwhisk.errors import ConfigError
from pytest_openwhisk.kube.helm import prepare_chart
from pytest_openwhisk.kube.values import (
    CHART_GUEST_AUTH,
    RUNTIMES_FILE,
    compose,
    guest_auth,
    load_values,
    merge,
    runtimes_manifest,
    set_jvm_property,
    summary,
    values_dir,
)
from pytest_openwhisk.local.config import StemCell
from pytest_openwhisk.options import Settings

HERE = Path(__file__).parent
CHART = HERE / "chart"
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


def test_prewarm_replaces_stem_cells_and_none_removes_them() -> None:
    manifest = json.loads((CHART / "runtimes.json").read_text())
    off = runtimes_manifest(manifest, ())
    assert all("stemCells" not in e for fam in off["runtimes"].values() for e in fam)
    on = runtimes_manifest(manifest, (StemCell("python:3", 3, 512),))
    assert on["runtimes"]["python"][0]["stemCells"] == [{"initialCount": 3, "memory": "512 MB"}]
    assert "stemCells" not in on["runtimes"]["nodejs"][0]
    assert runtimes_manifest(manifest, None) == manifest


def test_prewarm_of_unknown_kind_lists_the_kinds() -> None:
    manifest = json.loads((CHART / "runtimes.json").read_text())
    with pytest.raises(ConfigError) as info:
        runtimes_manifest(manifest, (StemCell("nodejs:20", 2),))
    assert str(info.value) == (
        "prewarm kind 'nodejs:20' (--ow-prewarm) is not in the chart's runtimes; "
        "use one of nodejs:14, python:3"
    )


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


def test_chart_without_runtime_manifest_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        prepare_chart(tmp_path, {}, None)
    assert str(info.value) == (
        f"the chart at {tmp_path} has no runtime manifest 'runtimes.json' "
        "(whisk.runtimes); point --ow-chart at the openwhisk chart folder (helm/openwhisk)"
    )


def test_summary_has_no_secrets() -> None:
    values = compose(Settings(cluster="kind", auth=AUTH, sources={"auth": "cli"}), "openwhisk-kind.yaml")
    text = json.dumps(summary(values))
    assert AUTH.split(":")[1] not in text
    assert summary(values)["container_factory"] == "kubernetes"


def test_rendered_by_helm_engine(tmp_path: Path) -> None:
    """Our composed values rendered with a real Helm engine (helm-python-sdk) into the test chart."""
    helm = pytest.importorskip(
        "helm_python", reason="helm-python-sdk is a dev dependency: pip install -e '.[dev]'"
    )
    chart_dir = tmp_path / "openwhisk"
    shutil.copytree(CHART, chart_dir)
    composed = compose(
        settings(tmp_path, idle_timeout=15.0, prewarm=(StemCell("python:3", 1),)), "openwhisk-kind.yaml"
    )
    values = prepare_chart(chart_dir, composed, (StemCell("python:3", 1),))
    assert values["whisk"]["runtimes"] == RUNTIMES_FILE
    chart = helm.Chart.load(chart_dir)
    rendered = chart.render(values, name="owdev", namespace="openwhisk", is_install=True)
    invoker = yaml.safe_load(rendered["openwhisk/templates/invoker.yaml"])
    assert invoker["kind"] == "StatefulSet"
    env = {
        item["name"]: item["value"] for item in invoker["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["JAVA_OPTS"] == "-Xmx512M -Dwhisk.container-proxy.timeouts.idle-container=15s"
    assert env["LIMITS_ACTIONS_SEQUENCE_MAXLENGTH"] == "200"
    assert env["LIMITS_ACTIONS_INVOKES_PERMINUTE"] == "100000"
    assert env["CONFIG_whisk_containerPool_userMemory"] == "8192m"
    assert env["CONFIG_whisk_memory_max"] == "2048m"
    assert env["CONFIG_whisk_concurrencyLimit_max"] == "20"
    assert env["CONFIG_whisk_containerFactory_containerArgs_extraEnvVars_0"] == "__OW_ALLOW_CONCURRENT=true"
    assert env["CONFIG_whisk_userEvents_enabled"] == "true"
    manifest = json.loads(env["RUNTIMES_MANIFEST"])
    assert manifest["runtimes"]["python"][0]["stemCells"] == [{"initialCount": 1, "memory": "256 MB"}]
    assert "stemCells" not in manifest["runtimes"]["nodejs"][0]
    affinity = invoker["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]
    term = affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
    assert term["matchExpressions"][0]["values"] == ["invoker"]
    service = yaml.safe_load(rendered["openwhisk/templates/nginx-svc.yaml"])
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["ports"][0]["nodePort"] == 31001
    config = yaml.safe_load(rendered["openwhisk/templates/whisk-config.yaml"])["data"]
    assert config["whisk_api_host_name"] == "localhost"
    assert config["persistence"] == "false"
    assert config["include_tests"] == "false"
    assert config["providers"] == "false,false"
