"""``pytest-openwhisk render`` against the real upstream chart, and the defects it makes visible.

Defect 2 (runtime kinds), 3 (user-pod-node-affinity), 5 (NetworkPolicy vs. monitoring) and 9 (monitoring
namespace) are checked on objects rendered from ``../shared/charts/openwhisk`` by a real Helm engine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_openwhisk.cli import main as cli_main
from pytest_openwhisk.kube.chart import MONITORING_NAMESPACE, monitoring_values
from pytest_openwhisk.kube.render import Rendered, render_release, settings_from_args
from pytest_openwhisk.kube.runtimes import PYTHON_TARGETS, UPSTREAM_IMAGES, cluster_kinds, manifest_kinds
from pytest_openwhisk.kube.values import NODE_AFFINITY_PROPERTY, compose, load_values, values_dir
from pytest_openwhisk.local import manifest as local_manifest
from pytest_openwhisk.options import Settings
from tests.kube.upstream import chart_dir, env_of, upstream_runtimes

AUTH = "11111111-2222-3333-4444-555555555555:" + "s" * 64


def render(tmp_path: Path, *args: str) -> tuple[int, Path]:
    """Run the command; (exit status, output folder)."""
    out = tmp_path / "out"
    status = cli_main(["render", *args, "--output", str(out)])
    return status, out


def rendered(tmp_path: Path, cluster: str = "kind", **fields: Any) -> Rendered:
    """Render the upstream chart for ``cluster`` with settings ``fields`` (given = from the command line)."""
    settings = Settings(
        cluster=cluster,
        chart=str(chart_dir()),
        **fields,
        sources={"cluster": "cli", "chart": "cli", **dict.fromkeys(fields, "cli")},
    )
    return render_release(settings, tmp_path / "work")


def objects(folder: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((folder / "manifests.yaml").read_text()) if doc]


def test_render_writes_values_and_every_object(tmp_path: Path) -> None:
    status, out = render(tmp_path, "--ow-cluster=kind", f"--ow-chart={chart_dir()}")
    assert status == 0
    docs = objects(out)
    kinds = {doc["kind"] for doc in docs}
    assert {"StatefulSet", "Deployment", "Service", "Secret", "ConfigMap", "Job", "NetworkPolicy"} <= kinds
    values = yaml.safe_load((out / "values.yaml").read_text())
    assert values["whisk"]["runtimes"] == "runtimes-pytest-openwhisk.json"
    assert values["invoker"]["containerFactory"]["impl"] == "kubernetes"
    invoker = next(d for d in docs if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "owdev-invoker")
    assert env_of(invoker, "invoker")["CONFIG_whisk_containerPool_userMemory"] == "8192m"


def test_render_redacts_secrets(tmp_path: Path) -> None:
    status, out = render(tmp_path, "--ow-cluster=kind", f"--ow-chart={chart_dir()}", f"--ow-auth={AUTH}")
    assert status == 0
    for name in ("values.yaml", "manifests.yaml"):
        assert "s" * 64 not in (out / name).read_text()
    secret = next(
        d for d in objects(out) if d["kind"] == "Secret" and d["metadata"]["name"] == "owdev-whisk.auth"
    )
    assert set(secret["data"].values()) == {"<redacted>"}


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--ow-cluster=kind", "--ow-chart=https://openwhisk.apache.org/charts"], "a chart folder"),
        (["--ow-cluster=kind", "--ow-chart={chart}", "--ow-values=/no/such.yaml"], "/no/such.yaml"),
        (["--ow-cluster=kind", "--ow-chart={chart}", "--ow-prewarm=python:3.12:1"], "python:3.12"),
        (["--ow-cluster=existing", "--ow-chart={chart}"], "--ow-apihost"),
        (["--ow-cluster=kind", "--ow-chart=/no/chart"], "Chart.yaml"),
    ],
)
def test_bad_input_exits_2_naming_value_and_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], named: str
) -> None:
    status, _ = render(tmp_path, *[a.format(chart=chart_dir()) for a in args])
    assert status == 2
    err = capsys.readouterr().err
    assert named in err
    assert any(fix in err for fix in ("use", "pass", "drop"))


def test_bad_values_yaml_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a\n- b\n")
    status, _ = render(tmp_path, "--ow-cluster=kind", f"--ow-chart={chart_dir()}", f"--ow-values={bad}")
    assert status == 2
    assert "bad.yaml" in capsys.readouterr().err


# -- defect 2: runtime kinds ------------------------------------------------------------------------
def test_upstream_images_are_upstreams() -> None:
    """Our embedded table is apache/openwhisk's runtimes.json (kind, image) at the pinned commit."""
    upstream = upstream_runtimes()
    table = {
        entry["kind"]: (family, entry["image"]["prefix"], entry["image"]["name"], entry["image"]["tag"])
        for family, entries in upstream["runtimes"].items()
        for entry in entries
    }
    assert table == UPSTREAM_IMAGES


def test_deployed_kinds_are_the_embedded_servers_with_upstream_images(tmp_path: Path) -> None:
    """The invoker's and controller's RUNTIMES_MANIFEST carry the catalogue's kinds."""
    result = rendered(tmp_path)
    for kind, name, container in (
        ("StatefulSet", "owdev-invoker", "invoker"),
        ("StatefulSet", "owdev-controller", "controller"),
    ):
        manifest = json.loads(env_of(result.find(kind, name), container)["RUNTIMES_MANIFEST"])
        kinds = manifest_kinds(manifest)
        assert kinds == list(cluster_kinds())
        assert {"python:3.11", "nodejs:20"} <= set(kinds)  # what the catalogue uses
        assert not {"nodejs:14", "python:3"} & set(kinds)
        for family in manifest["runtimes"].values():
            for entry in family:
                _, prefix, image, tag = UPSTREAM_IMAGES[entry["kind"]]
                assert entry["image"] == {"prefix": prefix, "name": image, "tag": tag}
    assert set(cluster_kinds()) <= set(local_manifest.KINDS)


def test_catalogue_kinds_are_deployed(tmp_path: Path) -> None:
    from pytest_openwhisk.catalog import load_catalog

    used = {spec.kind for spec in load_catalog().values()} - {"sequence"}
    assert used <= set(cluster_kinds()), (
        f"catalogue kinds without a cluster image: {used - set(cluster_kinds())}"
    )


def test_python_targets_cover_the_deployed_python_kinds() -> None:
    assert {k for k in cluster_kinds() if k.startswith("python:")} <= set(PYTHON_TARGETS)


def test_prewarm_becomes_stem_cells(tmp_path: Path) -> None:
    from pytest_openwhisk.local.config import StemCell

    result = rendered(tmp_path, prewarm=(StemCell("python:3.11", 3, 512),))
    entries = {e["kind"]: e for family in result.manifest["runtimes"].values() for e in family}
    assert entries["python:3.11"]["stemCells"] == [{"initialCount": 3, "memory": "512 MB"}]
    assert "stemCells" not in entries["nodejs:20"]


# -- defect 3: user-pod-node-affinity ----------------------------------------------------------------
def test_existing_cluster_without_labels_frees_action_pods(tmp_path: Path) -> None:
    result = rendered(tmp_path, cluster="existing", apihost="https://10.0.0.5:31001")
    opts = env_of(result.find("StatefulSet", "owdev-invoker"), "invoker")["INVOKER_OPTS"]
    assert f"-D{NODE_AFFINITY_PROPERTY}.enabled=false" in opts
    assert result.values["whisk"]["ingress"]["apiHostName"] == "10.0.0.5"


def test_labelled_nodes_keep_action_pods_on_invoker_nodes(tmp_path: Path) -> None:
    placement = tmp_path / "placement.yaml"
    placement.write_text("affinity: {enabled: true, invokerNodeLabel: compute}\n")
    result = rendered(tmp_path, cluster="existing", apihost="h", values=(placement,))
    opts = env_of(result.find("StatefulSet", "owdev-invoker"), "invoker")["INVOKER_OPTS"]
    assert f"-D{NODE_AFFINITY_PROPERTY}.value=compute" in opts
    assert f"{NODE_AFFINITY_PROPERTY}.enabled=false" not in opts


# -- defect 5: NetworkPolicy ---------------------------------------------------------------------------
def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if (op == "In" and labels.get(key) not in values) or (op == "NotIn" and labels.get(key) in values):
            return False
        if (op == "Exists" and key not in labels) or (op == "DoesNotExist" and key in labels):
            return False
    return True


def ingress_allowed(
    policies: list[dict[str, Any]], pod: dict[str, str], pod_ns: str, source: dict[str, str], source_ns: str
) -> bool:
    """Kubernetes NetworkPolicy semantics for ingress to ``pod`` from ``source``."""
    applying = [
        p
        for p in policies
        if "Ingress" in p["spec"].get("policyTypes", ["Ingress"]) and _selects(p["spec"]["podSelector"], pod)
    ]
    if not applying:
        return True
    for policy in applying:
        for rule in policy["spec"].get("ingress") or []:
            peers = rule.get("from")
            if not peers:
                return True
            for peer in peers:
                ns_ok = (
                    _selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": source_ns})
                    if "namespaceSelector" in peer
                    else source_ns == pod_ns
                )
                pod_ok = _selects(peer["podSelector"], source) if "podSelector" in peer else True
                if ns_ok and pod_ok:
                    return True
    return False


def test_prometheus_may_scrape_the_invoker_and_user_events(tmp_path: Path) -> None:
    result = rendered(tmp_path)
    policies = [o for o in result.objects if o["kind"] == "NetworkPolicy"]
    prometheus = {"app.kubernetes.io/name": "prometheus"}
    for component in ("invoker", "user-events"):
        pod = {"name": f"owdev-{component}"}
        assert ingress_allowed(policies, pod, "openwhisk", prometheus, MONITORING_NAMESPACE), component
        chart_only = [p for p in policies if p["metadata"]["name"] != "owdev-allow-monitoring-np"]
        assert not ingress_allowed(chart_only, pod, "openwhisk", prometheus, MONITORING_NAMESPACE)
    # user action pods stay closed to everyone but the invoker
    action = {"user-action-pod": "true", "openwhisk/action": "x"}
    assert not ingress_allowed(policies, action, "openwhisk", prometheus, MONITORING_NAMESPACE)
    assert ingress_allowed(policies, action, "openwhisk", {"name": "owdev-invoker"}, "openwhisk")


# -- defect 9: monitoring follows --ow-helm-namespace -------------------------------------------------
def test_monitoring_scrapes_the_release_namespace() -> None:
    values = monitoring_values(load_values(values_dir() / "monitoring.yaml"), "ow-bench")
    configs = values["prometheus"]["prometheusSpec"]["additionalScrapeConfigs"]
    assert [sd["namespaces"]["names"] for c in configs for sd in c["kubernetes_sd_configs"]] == [["ow-bench"]]


# -- defect 11: ~/.wskprops describes another OpenWhisk ----------------------------------------------
def test_wskprops_auth_is_not_a_release_setting() -> None:
    settings = Settings(
        cluster="kind", auth=AUTH, namespace="other", sources={"auth": "wskprops", "namespace": "wskprops"}
    )
    assert "auth" not in compose(settings, "openwhisk-kind.yaml").get("whisk", {})
    given = Settings(cluster="kind", auth=AUTH, sources={"auth": "cli"})
    assert compose(given, "openwhisk-kind.yaml")["whisk"]["auth"]["guest"] == AUTH


def test_settings_from_args_marks_given_options(tmp_path: Path) -> None:
    import argparse

    from pytest_openwhisk.kube.render import add_parser

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "render",
            "--ow-cluster=kind",
            f"--ow-chart={tmp_path}",
            "--ow-user-memory=4g",
            "--output",
            str(tmp_path),
        ]
    )
    settings = settings_from_args(args)
    assert settings.user_memory == 4096
    assert settings.source("user_memory") == "cli"
    assert settings.source("idle_timeout") == "default"
