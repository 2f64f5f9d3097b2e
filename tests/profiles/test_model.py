"""Profiles: parsing and validation of knobs, settings and Helm values; backends; the fingerprint entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_openwhisk.local.config import Limits, StemCell
from pytest_openwhisk.options import Settings
from pytest_openwhisk.profiles import (
    Profile,
    ProfileError,
    apply_profile,
    available,
    check_backend,
    load_profile,
    parse_profile,
    profiles_dir,
)

SHIPPED = (
    "default",
    "no-prewarm",
    "stem-cells",
    "idle-15s",
    "idle-10m",
    "new-scheduler",
    "docker-factory",
    "concurrency-20",
    "seed",
)


def profile(**knobs: Any) -> Profile:
    """A profile named ``t`` with these knobs."""
    return parse_profile({"name": "t", "knobs": knobs}, "t.yaml")


def test_every_shipped_profile_loads_and_is_named_after_its_file() -> None:
    assert set(SHIPPED) <= set(available())
    for name in available():
        loaded = load_profile(name)
        assert loaded.name == name
        assert loaded.description
        assert Path(loaded.origin) == profiles_dir() / f"{name}.yaml"


def test_load_by_path_and_unknown_name(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nknobs: {idle_timeout: 30s}\n")
    assert load_profile(str(path)).settings == {"idle_timeout": 30.0}
    with pytest.raises(
        ProfileError, match=r"unknown profile 'no-prewam' \(did you mean 'no-prewarm'\?\); ours"
    ):
        load_profile("no-prewam")
    with pytest.raises(ProfileError, match="does not exist"):
        load_profile(str(tmp_path / "missing.yaml"))
    path.write_text("name: [unclosed\n")
    with pytest.raises(ProfileError, match="not valid YAML"):
        load_profile(path)


def test_knobs_the_embedded_backend_models_become_settings() -> None:
    loaded = profile(
        prewarm={"python:3.11": 1, "nodejs:20": {"count": 2, "memory": "512m"}},
        idle_timeout="15s",
        user_memory="4g",
    )
    assert loaded.settings == {
        "prewarm": (StemCell("python:3.11", 1, 256), StemCell("nodejs:20", 2, 512)),
        "idle_timeout": 15.0,
        "user_memory": 4096,
    }
    assert profile(prewarm="off").settings["prewarm"] == ()
    assert profile(prewarm=False).settings["prewarm"] == ()
    assert profile(prewarm="python:3.11:3").settings["prewarm"] == (StemCell("python:3.11", 3, 256),)
    assert loaded.helm_values() == {}  # they reach Helm through the --ow-* options (kube.values)


def test_local_limits_take_concurrency_rate_and_action_limits() -> None:
    loaded = profile(
        concurrency={"max": 20, "std": 2},
        limits={"invocations_per_minute": 5000, "sequence_max_length": 110},
        action_limits={"memory": {"max": "1g"}, "time": {"max": "2m", "std": "30s"}, "payload_max": 2048},
    )
    limits = loaded.local_limits(Limits())
    assert (limits.concurrency_min, limits.concurrency_max, limits.concurrency_default) == (1, 20, 2)
    assert (limits.invocations_per_minute, limits.sequence_max_length) == (5000, 110)
    assert limits.concurrent_invocations == Limits().concurrent_invocations
    assert (limits.memory_mb_max, limits.timeout_ms_max, limits.timeout_ms_default) == (1024, 120_000, 30_000)
    assert limits.payload_max_bytes == 2048


def test_helm_values_of_cluster_knobs() -> None:
    loaded = profile(
        scheduler="new",
        container_factory="docker",
        concurrency=20,
        blackbox_fraction="25%",
        timeout_factor=3,
        limits={"concurrent_invocations": 100},
        action_limits={"memory": {"min": 128, "max": 512, "std": 256}, "time": {"max": "5m"}},
    )
    assert loaded.helm_values() == {
        "scheduler": {"enabled": True},
        "etcd": {"external": False},
        "activationStoreBackend": "ElasticSearch",
        "invoker": {"containerFactory": {"impl": "docker", "enableConcurrency": True}},
        "whisk": {
            "limits": {
                "actions": {
                    "concurrency": {"min": 1, "std": 1, "max": 20},
                    "memory": {"min": "128m", "max": "512m", "std": "256m"},
                    "time": {"max": "5m"},
                },
                "actionsInvokesConcurrent": 100,
            },
            "loadbalancer": {"blackboxFraction": "25%", "timeoutFactor": 3.0},
        },
    }
    assert profile(scheduler="default").helm_values() == {"scheduler": {"enabled": False}}


def test_raw_helm_section_is_merged_after_the_knobs() -> None:
    loaded = parse_profile(
        {
            "name": "t",
            "knobs": {"scheduler": "new"},
            "helm": {"elasticsearch": {"replicaCount": 1}, "scheduler": {"replicaCount": 2}},
        }
    )
    values = loaded.helm_values()
    assert values["scheduler"] == {"enabled": True, "replicaCount": 2}
    assert values["elasticsearch"] == {"replicaCount": 1}


@pytest.mark.parametrize(
    ("knobs", "expected"),
    [
        (
            {"scheduler": "fpc"},
            r"knob scheduler: invalid value 'fpc'; allowed: default or new\. Fix, e\.g\.: "
            r"scheduler: new",
        ),
        ({"container_factory": "podman"}, r"knob container_factory: .*allowed: kubernetes or docker"),
        (
            {"prewarm": "on"},
            r"knob prewarm: invalid value 'on'.*allowed: off \(no stem cells\), or stem cells",
        ),
        (
            {"prewarm": {"python:3.11": -1}},
            r"knob prewarm: invalid stem-cell count of python:3.11 -1; allowed: an "
            r"integer >= 0",
        ),
        ({"prewarm": {"python:3.11": {"cnt": 1}}}, r"knob prewarm: stem cells of python:3.11 .*got cnt"),
        (
            {"idle_timeout": "15"},
            r"knob idle_timeout: invalid value '15'.*allowed: a duration such as 15s or 10m",
        ),
        (
            {"user_memory": "64m"},
            r"knob user_memory: .*below the smallest action.*Fix, e\.g\.: user_memory: 4096",
        ),
        ({"concurrency": 0}, r"knob concurrency: invalid concurrency 0; allowed: an integer >= 1"),
        (
            {"concurrency": {"min": 5, "max": 2}},
            r"knob concurrency: min 5 is above max 2; allowed: min <= std <= max",
        ),
        (
            {"limits": {"invocation_per_minute": 5}},
            r"unknown limit 'invocation_per_minute' \(did you mean "
            r"'invocations_per_minute'\?\)",
        ),
        ({"limits": {"sequence_max_length": 0}}, r"invalid sequence_max_length 0; allowed: an integer >= 1"),
        ({"action_limits": {"memory": {"max": "lots"}}}, r"knob action_limits: invalid value 'lots'"),
        ({"action_limits": {"time": {"min": "1m", "max": "10s"}}}, r"min '1m' is above max '10s'"),
        ({"blackbox_fraction": "150%"}, r"knob blackbox_fraction: '150%' is outside 0%\.\.100%"),
        ({"timeout_factor": 0}, r"knob timeout_factor: invalid value 0; allowed: a positive number"),
        ({"idle_timout": "15s"}, r"unknown knob 'idle_timout' \(did you mean 'idle_timeout'\?\); knobs are"),
    ],
)
def test_bad_knobs_name_the_knob_what_is_allowed_and_the_fix(knobs: dict[str, Any], expected: str) -> None:
    with pytest.raises(ProfileError, match=r"profile 't' \(t\.yaml\): .*" + expected):
        parse_profile({"name": "t", "knobs": knobs}, "t.yaml")


def test_settings_section_takes_other_options_only() -> None:
    loaded = parse_profile(
        {"name": "t", "settings": {"isolation": "none", "local-mode": "thread", "monitoring": True}}
    )
    assert loaded.settings == {"isolation": "none", "local_mode": "thread", "monitoring": True}
    with pytest.raises(ProfileError, match=r"settings\.prewarm is a knob; move it under knobs:"):
        parse_profile({"name": "t", "settings": {"prewarm": "none"}})
    with pytest.raises(
        ProfileError,
        match=r"settings\.cluster says where or how to connect.*profile settings "
        r"are .*isolation",
    ):
        parse_profile({"name": "t", "settings": {"cluster": "kind"}})
    with pytest.raises(
        ProfileError,
        match=r"settings\.isolaton is not an --ow-\* option \(did you mean "
        r"'isolation'\?\)",
    ):
        parse_profile({"name": "t", "settings": {"isolaton": "none"}})
    with pytest.raises(ProfileError, match=r"settings\.isolation: invalid isolation 'box'"):
        parse_profile({"name": "t", "settings": {"isolation": "box"}})


def test_file_structure_errors() -> None:
    with pytest.raises(ProfileError, match="must hold a mapping"):
        parse_profile(["name"], "x.yaml")
    with pytest.raises(ProfileError, match=r"unknown key 'knob' \(did you mean 'knobs'\?\)"):
        parse_profile({"name": "t", "knob": {}})
    with pytest.raises(ProfileError, match=r"name 'Bad Name' is missing or invalid"):
        parse_profile({"name": "Bad Name"})
    with pytest.raises(ProfileError, match="knobs must be a mapping"):
        parse_profile({"name": "t", "knobs": ["idle_timeout"]})


@pytest.mark.parametrize(
    ("helm", "expected"),
    [
        ({"activationStoreBackend": "CouchDB"}, "needs the ElasticSearch activation store"),
        ({"etcd": {"external": True}}, "needs the chart's own etcd"),
        ({"scheduler": {"enabled": False}}, "contradicts helm scheduler.enabled: false"),
    ],
)
def test_new_scheduler_requirements_are_checked(helm: dict[str, Any], expected: str) -> None:
    with pytest.raises(ProfileError, match=r"knob `scheduler: new` .*" + expected + r".*Fix: remove"):
        parse_profile({"name": "t", "knobs": {"scheduler": "new"}, "helm": helm})


@pytest.mark.parametrize(
    ("name", "knob", "backends"),
    [
        ("new-scheduler", "scheduler", "kind, existing"),
        ("docker-factory", "container_factory", "kind, existing"),
        ("seed", "container_factory", "kind, existing"),
    ],
)
def test_cluster_only_knobs_are_refused_on_local(name: str, knob: str, backends: str) -> None:
    with pytest.raises(
        ProfileError,
        match=rf"profile '{name}' .*`{knob}: .*` cannot apply to the embedded "
        rf"OpenWhisk .*backends that have it: {backends}\. Fix: run with "
        rf"--ow-cluster=kind \(or existing\), or remove `{knob}`",
    ):
        check_backend(load_profile(name), "local")
    check_backend(load_profile(name), "existing")


def test_backend_checks() -> None:
    check_backend(profile(scheduler="default", idle_timeout="15s"), "local")
    with pytest.raises(ProfileError, match=r"`helm: \.\.\.` cannot apply to the embedded OpenWhisk"):
        check_backend(parse_profile({"name": "t", "helm": {"affinity": {"enabled": False}}}), "local")
    with pytest.raises(ProfileError, match=r"`blackbox_fraction: 10%` cannot apply"):
        check_backend(profile(blackbox_fraction="10%"), "local")
    with pytest.raises(ProfileError, match=r"kind nodes run containerd.*backends that have it: existing"):
        check_backend(load_profile("docker-factory"), "kind")
    with pytest.raises(ProfileError, match=r"knob prewarm: The specified runtime 'swift:5.7'"):
        check_backend(profile(prewarm={"swift:5.7": 1}), "local")


def test_apply_profile_fills_what_the_user_left_at_default(tmp_path: Path) -> None:
    loaded = load_profile("idle-15s")
    settings = Settings(results_dir=tmp_path, sources={"idle_timeout": "default", "user_memory": "default"})
    applied = apply_profile(settings, loaded)
    assert applied.idle_timeout == 15.0
    assert applied.source("idle_timeout") == "profile"
    assert applied.values == ()  # local: no Helm values
    explicit = Settings(idle_timeout=60.0, results_dir=tmp_path, sources={"idle_timeout": "cli"})
    assert apply_profile(explicit, loaded).idle_timeout == 60.0  # explicit options win


def test_apply_profile_on_clusters_writes_the_values_layer(tmp_path: Path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text("whisk: {}\n")
    settings = Settings(cluster="kind", results_dir=tmp_path, values=(mine,), sources={"values": "cli"})
    applied = apply_profile(settings, load_profile("new-scheduler"))
    first, *rest = applied.values
    assert rest == [mine]  # the user's files stay last
    assert yaml.safe_load(first.read_text())["activationStoreBackend"] == "ElasticSearch"
    with pytest.raises(ProfileError, match="kind nodes run containerd"):
        apply_profile(settings, load_profile("docker-factory"))
    options_only = apply_profile(settings, load_profile("idle-15s"))  # still a layer: the release is upgraded
    assert yaml.safe_load(options_only.values[0].read_text()) == {}
    assert options_only.idle_timeout == 15.0


def test_fingerprint_is_stable_and_has_no_paths(tmp_path: Path) -> None:
    here = load_profile("idle-15s").fingerprint()
    copy = tmp_path / "copy.yaml"
    copy.write_text((profiles_dir() / "idle-15s.yaml").read_text())
    assert load_profile(copy).fingerprint() == here
    assert here["name"] == "idle-15s"
    assert here["knobs"] == {"idle_timeout": 15.0}
    assert str(tmp_path) not in str(here)
    assert "profiles" not in str(here)
    assert load_profile("idle-10m").fingerprint()["digest"] != here["digest"]
    cells = load_profile("stem-cells").fingerprint()["knobs"]["prewarm"]
    assert cells[0] == {"kind": "python:3.11", "count": 2, "memory_mb": 256}


def test_describe_is_one_line() -> None:
    assert load_profile("default").describe() == "default: backend defaults"
    assert "blackbox_fraction=100%" in load_profile("seed").describe()
    assert "time:{min:100ms,max:5m,std:1m}" in load_profile("seed").describe()
