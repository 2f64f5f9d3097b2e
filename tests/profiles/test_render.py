"""Every profile we ship renders against the upstream chart (../shared/charts/openwhisk) and its schema.

Rendering goes through KUBE's ``render_release`` (the ``pytest-openwhisk render`` code) with the profile
applied to the settings, exactly as a kind/existing session composes its values.
"""

from __future__ import annotations

import functools
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_openwhisk.options import Settings
from pytest_openwhisk.profiles import ProfileError, apply_profile, available, check_backend, load_profile
from pytest_openwhisk.profiles.diff import describe_changes, summarize

CHART = Path(__file__).resolve().parents[3] / "shared" / "charts" / "openwhisk"


def _no_engine() -> bool:
    """Neither the helm binary nor helm-python-sdk (the engines KUBE's render uses) is available."""
    import importlib.util

    return shutil.which("helm") is None and importlib.util.find_spec("helm_python") is None


pytestmark = [
    pytest.mark.skipif(
        not (CHART / "Chart.yaml").is_file(),
        reason=f"the upstream chart copy is not at {CHART} (development machines and CI have it)",
    ),
    pytest.mark.skipif(
        _no_engine(), reason="neither helm nor helm-python-sdk is installed: pip install -e '.[dev]'"
    ),
]


@functools.cache
def rendered(name: str, cluster: str) -> tuple[dict[str, Any], dict[str, Any], tuple[dict[str, Any], ...]]:
    """(values, runtimes manifest, objects) of profile ``name`` on ``cluster``, rendered once per session."""
    from pytest_openwhisk.kube.render import render_release

    with tempfile.TemporaryDirectory(prefix="prof-render-") as tmp:
        settings = Settings(
            cluster=cluster,
            chart=str(CHART),
            apihost="https://ow.example.com:31001",
            results_dir=Path(tmp),
            sources={},
        )
        result = render_release(apply_profile(settings, load_profile(name)), Path(tmp))
    return result.values, result.manifest, tuple(result.objects)


def find(objects: tuple[dict[str, Any], ...], kind: str, name: str) -> dict[str, Any]:
    """The rendered object ``kind``/``name``."""
    for obj in objects:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    raise AssertionError(f"no {kind} {name}: {sorted((o['kind'], o['metadata']['name']) for o in objects)}")


def env(obj: dict[str, Any], container: str) -> dict[str, str]:
    """Literal environment variables of one container of a workload."""
    spec = obj["spec"]["template"]["spec"]
    for item in spec["containers"]:
        if item["name"] == container:
            return {e["name"]: e.get("value") for e in item.get("env", []) if "value" in e}
    raise AssertionError(f"no container {container}")


def cases() -> list[Any]:
    """(profile, cluster): every shipped profile on kind, or on existing when kind lacks a knob."""
    out = []
    for name in available():
        for cluster in ("kind", "existing"):
            try:
                check_backend(load_profile(name), cluster)
            except ProfileError:
                continue
            out.append(pytest.param(name, cluster, id=f"{name}-{cluster}"))
            break
    return out


@pytest.mark.parametrize(("name", "cluster"), cases())
def test_profile_renders_and_passes_the_chart_schema(name: str, cluster: str) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    values, _, objects = rendered(name, cluster)
    schema = json.loads((CHART / "values.schema.json").read_text())
    chart_defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    from pytest_openwhisk.kube.values import merge

    jsonschema.Draft7Validator(schema).validate(merge(chart_defaults, values))  # what Helm validated too
    find(objects, "StatefulSet", "owdev-controller")


def test_every_shipped_profile_renders_somewhere() -> None:
    assert {case.values[0] for case in cases()} == set(available())


def test_new_scheduler_deploys_scheduler_etcd_and_elasticsearch() -> None:
    values, _, objects = rendered("new-scheduler", "kind")
    assert values["scheduler"]["enabled"] is True
    assert values["activationStoreBackend"] == "ElasticSearch"
    find(objects, "StatefulSet", "owdev-scheduler")
    find(objects, "Deployment", "owdev-etcd")
    find(objects, "StatefulSet", "owdev-elasticsearch")
    controller = env(find(objects, "StatefulSet", "owdev-controller"), "controller")
    assert controller["CONFIG_whisk_spi_LoadBalancerProvider"].endswith("FPCPoolBalancer")
    assert controller["CONFIG_whisk_spi_ActivationStoreProvider"].endswith(
        "ElasticSearchActivationStoreProvider"
    )


def test_docker_factory_runs_the_invoker_as_a_daemonset() -> None:
    _, _, objects = rendered("docker-factory", "existing")
    invoker = find(objects, "DaemonSet", "owdev-invoker")
    volumes = {v["name"] for v in invoker["spec"]["template"]["spec"]["volumes"]}
    assert {"dockersock", "runc", "cgroup"} <= volumes
    _, _, default = rendered("default", "existing")
    find(default, "StatefulSet", "owdev-invoker")


def test_knobs_reach_the_pods() -> None:
    invoker = env(find(rendered("idle-15s", "kind")[2], "StatefulSet", "owdev-invoker"), "invoker")
    assert "-Dwhisk.container-proxy.timeouts.idle-container=15s" in invoker["JAVA_OPTS"]
    _, manifest, _ = rendered("no-prewarm", "kind")
    assert not any("stemCells" in e for entries in manifest["runtimes"].values() for e in entries)
    _, manifest, _ = rendered("stem-cells", "kind")
    cells = {e["kind"]: e.get("stemCells") for entries in manifest["runtimes"].values() for e in entries}
    assert cells["python:3.11"] == cells["nodejs:20"] == [{"initialCount": 2, "memory": "256 MB"}]
    seed = env(find(rendered("seed", "kind")[2], "StatefulSet", "owdev-controller"), "controller")
    assert seed["LIMITS_ACTIONS_SEQUENCE_MAXLENGTH"] == "110"
    assert seed["LIMITS_ACTIONS_INVOKES_PERMINUTE"] == "5000"
    assert seed["CONFIG_whisk_loadbalancer_blackboxFraction"] == "100%"
    assert seed["CONFIG_whisk_concurrencyLimit_max"] == "20"
    assert seed["CONFIG_whisk_memory_max"] == "512m"
    assert rendered("seed", "kind")[0]["whisk"]["containerPool"]["userMemory"] == "40000m"


def test_changes_against_the_default_profile() -> None:
    scheduler = describe_changes(rendered("default", "kind")[2], rendered("new-scheduler", "kind")[2])
    for line in (
        "+ StatefulSet owdev-scheduler",
        "+ Deployment owdev-etcd",
        "+ StatefulSet owdev-elasticsearch",
    ):
        assert line in scheduler
    assert "~ owdev-controller: init containers added: wait-for-elasticsearch, wait-for-etcd" in scheduler
    assert not any("password" in line and "<redacted>" not in line for line in scheduler)
    docker = describe_changes(rendered("default", "existing")[2], rendered("docker-factory", "existing")[2])
    assert "~ owdev-invoker: kind StatefulSet -> DaemonSet" in docker
    assert "- Role owdev-invoker" in docker
    assert summarize(docker)["removed"] == 3
    assert describe_changes(rendered("default", "kind")[2], rendered("default", "kind")[2]) == []


def test_diff_command_reads_two_render_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_openwhisk.profiles.diff import main

    for name in ("default", "docker-factory"):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump_all(list(rendered(name, "existing")[2])))
    assert main([str(tmp_path / "default.yaml"), str(tmp_path / "docker-factory.yaml")]) == 0
    out = capsys.readouterr().out
    assert "docker-factory.yaml against " in out
    assert "3 removed" in out
    assert "~ owdev-invoker: kind StatefulSet -> DaemonSet" in out
    assert main([str(tmp_path / "missing.yaml"), str(tmp_path / "default.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main([]) == 2


def test_render_command_applies_the_profile(tmp_path: Path) -> None:
    """`render --ow-profile=new-scheduler` writes the scheduler's objects; without it, none."""
    from pytest_openwhisk.cli import main

    def kinds_of(out: Path, profile: list[str]) -> set[str]:
        argv = ["render", "--ow-cluster=kind", "--ow-chart", str(CHART), *profile, "--output", str(out)]
        assert main(argv) == 0
        docs = yaml.safe_load_all((out / "manifests.yaml").read_text())
        return {f"{d['kind']}/{d['metadata']['name']}" for d in docs if d}

    plain = kinds_of(tmp_path / "plain", [])
    scheduled = kinds_of(tmp_path / "sched", ["--ow-profile=new-scheduler"])
    added = scheduled - plain
    assert any("scheduler" in name for name in added), added
    assert not any("scheduler" in name for name in plain)
