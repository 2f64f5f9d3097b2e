"""The ``--ow-*`` options: syntax errors, combination errors, precedence, --help and the report header."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pytest_openwhisk.local.config import StemCell
from pytest_openwhisk.options import Settings
from pytest_openwhisk.parsers import (
    format_duration,
    format_prewarm,
    parse_duration,
    parse_memory,
    parse_prewarm,
)

KEY = "0a1b2c3d-0000-4000-8000-00000000beef:" + "S3cr3tK3y" * 7
SHOW_SETTINGS = """
    def test_show(ow_settings):
        for name in ("cluster", "apihost", "namespace", "idle_timeout", "prewarm", "local_mode",
                     "user_memory"):
            print(f"SETTING {name}={getattr(ow_settings, name)!r} <{ow_settings.source(name)}>")
"""


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("500ms", 0.5),
        (".5s", 0.5),
        ("1.5s", 1.5),
        ("1s", 1.0),
        ("15s", 15.0),
        ("2m", 120.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1.5h", 5400.0),
        (" 10m ", 600.0),
    ],
)
def test_parse_duration_accepts_units(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5x", "10", "", "ms", "-1s", "1 day", ".s", "1.5.5s"])
def test_parse_duration_rejects_with_example(text: str) -> None:
    expected = r"invalid duration .*e\.g\. 500ms, \.5s, 1\.5s, 2m, 1h"
    with pytest.raises(argparse.ArgumentTypeError, match=expected):
        parse_duration(text)


def test_parse_errors_are_value_errors_too() -> None:
    """One error type serves argparse (``type=``) and code that catches ValueError (the SLO parser)."""
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration("fast")


def test_format_duration_round_trips() -> None:
    assert [format_duration(parse_duration(t)) for t in ("250ms", "15s", "10m", "2h")] == [
        "250ms",
        "15s",
        "10m",
        "2h",
    ]


def test_parse_prewarm_kinds_counts_and_memory() -> None:
    assert parse_prewarm("python:3:1,nodejs:20:2:512") == (
        StemCell("python:3", 1, 256),
        StemCell("nodejs:20", 2, 512),
    )
    assert parse_prewarm("none") == ()
    assert format_prewarm(parse_prewarm("python:3:1,nodejs:20:2:512")) == "python:3:1,nodejs:20:2:512"


@pytest.mark.parametrize("text", ["python", "python:3", "python:3:x", "nodejs:20:2,", ":3:1"])
def test_parse_prewarm_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r"kind:count\[:memoryMB\].*e\.g\. python:3:1"):
        parse_prewarm(text)


def test_parse_memory() -> None:
    assert (parse_memory("2048"), parse_memory("512m"), parse_memory("4g"), parse_memory("1024MB")) == (
        2048,
        512,
        4096,
        1024,
    )
    with pytest.raises(argparse.ArgumentTypeError, match="below the smallest action"):
        parse_memory("64")


def test_settings_repr_masks_auth() -> None:
    settings = Settings(cluster="existing", apihost="http://x", auth=KEY)
    assert KEY not in repr(settings)
    assert "auth=***" in repr(settings)


BAD_FLAGS = [
    (
        ["--ow-cluster=docker"],
        "*argument --ow-cluster*invalid cluster 'docker'; choose from local, kind, existing*",
    ),
    (
        ["--ow-idle-timeout=5x"],
        "*argument --ow-idle-timeout*invalid duration '5x'*e.g. 500ms, .5s, 1.5s, 2m, 1h*",
    ),
    (
        ["--ow-prewarm=python"],
        "*argument --ow-prewarm*invalid prewarm entry 'python'*e.g. python:3:1,nodejs:20:2*",
    ),
    (["--ow-user-memory=lots"], "*argument --ow-user-memory*invalid memory size 'lots'*e.g. 2048*"),
    (["--ow-monitoring=maybe"], "*argument --ow-monitoring*invalid switch 'maybe'; use on or off*"),
    (["--ow-local-mode=fork"], "*invalid local-mode 'fork'; choose from process, thread*"),
    (["--ow-isolation=docker"], "*invalid isolation 'docker'; choose from auto, bwrap, none*"),
    (
        ["--ow-cluster=existing"],
        "ERROR: --ow-cluster=existing requires --ow-apihost and --ow-auth (or OW_APIHOST/OW_AUTH, "
        "or a ~/.wskprops with APIHOST and AUTH), or --ow-kubeconfig to use the Helm release's guest key "
        "and node address",
    ),
    (
        ["--ow-cluster=existing", "--ow-apihost=http://127.0.0.1:1"],
        "ERROR: --ow-cluster=existing requires --ow-apihost and --ow-auth*",
    ),
    (
        ["--ow-cluster=existing", "--ow-apihost=ftp://host", f"--ow-auth={KEY}"],
        "ERROR: invalid apihost 'ftp://host' from --ow-apihost; use host[[]:port] or http(s)://host[[]:port]*",
    ),
    (
        ["--ow-cluster=existing", "--ow-apihost=http://127.0.0.1:1", "--ow-auth=not-a-key"],
        "ERROR: the auth key from --ow-auth is not of the form UUID:KEY*",
    ),
    (
        ["--ow-cluster=kind", "--ow-values=missing.yaml"],
        "ERROR: Helm values file 'missing.yaml' (--ow-values) does not exist; check the path*",
    ),
    (
        ["--ow-kube-context=kind-x"],
        "ERROR: --ow-kube-context applies to Kubernetes clusters only; drop it or use*",
    ),
    (
        ["--ow-apihost=http://h:1"],
        "ERROR: --ow-apihost is not used by --ow-cluster=local*use --ow-cluster=existing",
    ),
    (["--ow-namespace=bad/ns"], "ERROR: invalid namespace 'bad/ns'; use _ *"),
    (["--ow-chart-version=1.0.0"], "ERROR: --ow-chart-version applies to Kubernetes clusters only*"),
    (["--ow-energy=watts"], "*--ow-energy: invalid energy 'watts'; choose from off, kepler*"),
    (
        ["--ow-cluster=existing", "--ow-kubeconfig=missing.kubeconfig"],
        "ERROR: kubeconfig 'missing.kubeconfig' (--ow-kubeconfig) does not exist",
    ),
    pytest.param(
        ["--ow-cluster=kind", "-n", "2"],
        "ERROR: --ow-cluster=kind cannot run under xdist (-n 2)*drop -n*",
        marks=pytest.mark.all_plugins,  # needs xdist for -n
    ),
]


def _flag_id(index: int, case: Any) -> str:
    args = case.values[0] if hasattr(case, "values") else case[0]
    return f"{args[-1].split('=')[0]}-{index}"


@pytest.mark.parametrize(("args", "line"), BAD_FLAGS, ids=[_flag_id(i, c) for i, c in enumerate(BAD_FLAGS)])
def test_bad_option_is_usage_error(pytester: pytest.Pytester, args: list[str], line: str) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([line])
    assert "S3cr3tK3y" not in result.stdout.str() + result.stderr.str()


def test_bad_env_value_names_the_variable(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OW_IDLE_TIMEOUT", "soon")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: environment variable OW_IDLE_TIMEOUT: invalid duration 'soon'"
            "*(or override it with --ow-idle-timeout)"
        ]
    )


def test_bad_ini_value_names_the_key(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\now_prewarm = python3\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: ini option ow_prewarm: invalid prewarm entry 'python3'*"])


def test_bad_auth_in_wskprops_is_not_echoed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    props = pytester.path / "props"
    props.write_text("APIHOST=http://127.0.0.1:9\nAUTH=S3cr3tK3yWithoutColon\n")
    monkeypatch.setenv("WSK_CONFIG_FILE", str(props))
    result = pytester.runpytest("--ow-cluster=existing")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: the auth key from the .wskprops file (AUTH/APIHOST) is not of the form*"]
    )
    assert "S3cr3tK3y" not in result.stderr.str()


def _settings(result: pytest.RunResult) -> dict[str, str]:
    found = {}
    for line in result.outlines:
        if "SETTING " in line:
            name, _, rest = line.split("SETTING ", 1)[1].partition("=")
            found[name] = rest
    return found


def test_precedence_cli_env_ini_default(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(textwrap.dedent(SHOW_SETTINGS))
    pytester.makeini("[pytest]\now_idle_timeout = 3m\now_prewarm = python:3:1\now_local_mode = thread\n")
    monkeypatch.setenv("OW_IDLE_TIMEOUT", "2m")
    monkeypatch.setenv("OW_PREWARM", "none")
    result = pytester.runpytest("-s", "--ow-idle-timeout=1m")
    result.assert_outcomes(passed=1)
    shown = _settings(result)
    assert shown["idle_timeout"] == "60.0 <cli>"
    assert shown["prewarm"] == "() <env>"
    assert shown["local_mode"] == "'thread' <ini>"
    assert shown["user_memory"] == "2048 <default>"
    assert shown["cluster"] == "'local' <default>"


def test_precedence_ini_over_wskprops_over_default(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(textwrap.dedent(SHOW_SETTINGS))
    (pytester.path / ".wskprops").write_text(f"APIHOST=props.example:443\nAUTH={KEY}\nNAMESPACE=propsns\n")
    monkeypatch.setenv("HOME", str(pytester.path))
    pytester.makeini("[pytest]\now_cluster = existing\now_namespace = ini-ns\n")
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1)
    shown = _settings(result)
    assert shown["apihost"] == "'props.example:443' <wskprops>"
    assert shown["namespace"] == "'ini-ns' <ini>"
    assert shown["cluster"] == "'existing' <ini>"
    monkeypatch.setenv("OW_APIHOST", "http://env.example:80")
    shown = _settings(pytester.runpytest("-s"))
    assert shown["apihost"] == "'http://env.example:80' <env>"


def test_wsk_config_file_is_read(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(textwrap.dedent(SHOW_SETTINGS))
    props = pytester.path / "elsewhere.props"
    props.write_text(f"# comment\nAPIHOST=http://127.0.0.1:3233\n\nAUTH={KEY}\n")
    monkeypatch.setenv("WSK_CONFIG_FILE", str(props))
    result = pytester.runpytest("-s", "--ow-cluster=existing")
    result.assert_outcomes(passed=1)
    assert _settings(result)["apihost"] == "'http://127.0.0.1:3233' <wskprops>"


def test_values_files_resolve_and_must_exist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        "def test_v(ow_settings):\n    print('VALUES', [p.name for p in ow_settings.values])\n"
    )
    (pytester.path / "a.yaml").write_text("{}\n")
    (pytester.path / "b.yaml").write_text("{}\n")
    result = pytester.runpytest(
        "-s",
        "--ow-cluster=existing",
        "--ow-apihost=http://127.0.0.1:9",
        f"--ow-auth={KEY}",
        "--ow-values=a.yaml",
        "--ow-values=b.yaml",
    )
    result.assert_outcomes(passed=1)
    assert any(line.endswith("VALUES ['a.yaml', 'b.yaml']") for line in result.outlines)


@pytest.mark.all_plugins  # pytest-kind's flags must show next to ours
def test_help_block_lists_every_option_with_its_sources(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The "openwhisk" --help group, checked by content: each option once, in order, with its metavar,
    its help text and where else it can be set (env, ini). New options need no edit here."""
    from pytest_openwhisk.options import OPTIONS

    monkeypatch.setenv("COLUMNS", "200")
    result = pytester.runpytest("--help")
    assert result.ret == 0
    lines = result.outlines
    first = lines.index("OpenWhisk benchmarks (pytest-openwhisk):")
    block = " ".join(" ".join(lines[first : lines.index("", first)]).split())
    positions = []
    for opt in OPTIONS:
        shown = opt.flag_name if opt.flag else f"{opt.flag_name}={opt.metavar}"
        assert block.count(f"{shown} ") == 1, shown
        positions.append(block.index(f"{shown} "))
        assert " ".join(opt.help.split()).replace("%%", "%") in block, opt.name
        assert f"[env {opt.env}, ini ow_{opt.name}]" in block, opt.name
    assert positions == sorted(positions)
    result.stdout.fnmatch_lines(["  ow_cluster (string):*", "  ow_values (linelist):*"])
    # pytest-kind's own flags keep working next to ours
    result.stdout.fnmatch_lines(["*--cluster-name=CLUSTER_NAME*"])


def test_help_works_with_broken_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OW_CLUSTER", "existing")  # incomplete, but --help must still print
    assert pytester.runpytest("--help").ret == 0


def test_report_header_shows_sources_not_secrets(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    monkeypatch.setenv("OW_AUTH", KEY)
    result = pytester.runpytest("--ow-cluster=existing", "--ow-apihost=http://127.0.0.1:1", "--co")
    result.stdout.fnmatch_lines(
        [
            "openwhisk: cluster=existing (cli), apihost=http://127.0.0.1:1 (cli), auth=set (env), "
            "namespace=_ (default)",
            "openwhisk: monitoring=off (default), results-dir=*.ow-results (default)",
        ]
    )
    assert "S3cr3tK3y" not in result.stdout.str() + result.stderr.str()


def test_report_header_local(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest("--ow-prewarm=python:3.11:1", "--ow-idle-timeout=15s", "--co")
    result.stdout.fnmatch_lines(
        [
            "openwhisk: cluster=local (default), namespace=_ (default)",
            "openwhisk: local-mode=process (default), prewarm=python:3.11:1 (cli), idle-timeout=15s (cli), "
            "user-memory=2048MB (default), isolation=auto (default)",
        ]
    )


EXISTING_SETTINGS = """
    def test_show(ow_settings):
        print(f"SETTING kubeconfig={ow_settings.kubeconfig.name} apihost={ow_settings.apihost!r} "
              f"auth={ow_settings.auth!r} chart_version={ow_settings.chart_version!r} "
              f"<{ow_settings.source('chart_version')}>")
"""


@pytest.fixture
def helm_on_path(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in ``helm`` first on PATH: --ow-kubeconfig's start-up check (preflight) finds it."""
    import os

    folder = tmp_path_factory.mktemp("bin")
    helm = folder / "helm"
    helm.write_text("#!/bin/sh\nexit 0\n")
    helm.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")


@pytest.mark.usefixtures("helm_on_path")
def test_existing_with_kubeconfig_needs_no_apihost_or_auth(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(textwrap.dedent(EXISTING_SETTINGS))
    (pytester.path / "kc.yaml").write_text("apiVersion: v1\nkind: Config\n")
    result = pytester.runpytest("-s", "--ow-cluster=existing", "--ow-kubeconfig=kc.yaml")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*SETTING kubeconfig=kc.yaml apihost=None auth=None chart_version=None <default>"]
    )
    result.stdout.fnmatch_lines(
        [
            "openwhisk: kubeconfig=kc.yaml (cli), helm-release=owdev (default), helm-namespace=openwhisk "
            "(default), chart=https://openwhisk.apache.org/charts (default)"
        ]
    )


@pytest.mark.parametrize(("where", "source"), [("cli", "cli"), ("env", "env"), ("ini", "ini")])
@pytest.mark.usefixtures("helm_on_path")
def test_chart_version_from_every_source(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, where: str, source: str
) -> None:
    pytester.makepyfile(textwrap.dedent(EXISTING_SETTINGS))
    (pytester.path / "kc.yaml").write_text("apiVersion: v1\nkind: Config\n")
    args = ["-s", "--ow-cluster=existing", "--ow-kubeconfig=kc.yaml"]
    if where == "cli":
        args.append("--ow-chart-version=1.0.1")
    elif where == "env":
        monkeypatch.setenv("OW_CHART_VERSION", "1.0.1")
    else:
        pytester.makeini("[pytest]\now_chart_version = 1.0.1\n")
    result = pytester.runpytest(*args)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"openwhisk: kubeconfig=*, chart-version=1.0.1 ({source})"])
    result.stdout.fnmatch_lines([f"*SETTING *chart_version='1.0.1' <{source}>"])


def test_existing_kubeconfig_settings_reach_the_release(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kc.yaml"
    kubeconfig.write_text("apiVersion: v1\n")
    settings = Settings(cluster="existing", kubeconfig=kubeconfig, chart_version="1.0.1")
    assert getattr(settings, "chart_version", None) == "1.0.1"  # how kube/deploy.py reads it
    assert "chart_version='1.0.1'" in repr(settings)


def test_energy_option_reaches_the_cluster_deployment() -> None:
    """`--ow-energy=kepler` is a setting the cluster deployment reads (it used to exist only in kube/)."""
    from pytest_openwhisk.kube.deploy import energy_source

    assert energy_source(Settings()) == ""
    assert energy_source(Settings(energy="kepler")) == "kepler"
