"""``--ow-profile``: precedence like every option, explicit options win over the profile, errors, header."""

from __future__ import annotations

import textwrap

import pytest

from pytest_openwhisk.backends.local import local_config
from pytest_openwhisk.options import Settings
from pytest_openwhisk.profiles import load_profile

SHOW = """
    def test_show(ow_settings):
        profile = ow_settings.profile
        print(f"PROFILE {profile.name if profile else None} <{ow_settings.source('profile')}>")
        for name in ("idle_timeout", "prewarm", "user_memory"):
            print(f"SETTING {name}={getattr(ow_settings, name)!r} <{ow_settings.source(name)}>")
"""


def shown(result: pytest.RunResult) -> dict[str, str]:
    """``name -> "value <source>"`` printed by the SHOW test."""
    out = {}
    for line in result.outlines:
        if line.startswith("SETTING "):
            name, _, rest = line[len("SETTING ") :].partition("=")
            out[name] = rest
        elif "PROFILE " in line:  # the first line follows the test file's name
            out["profile"] = line.split("PROFILE ", 1)[1]
    return out


def test_profile_fills_settings_the_user_did_not_give(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(textwrap.dedent(SHOW))
    result = pytester.runpytest("-s", "--ow-profile=idle-15s")
    result.assert_outcomes(passed=1)
    assert shown(result)["profile"] == "idle-15s <cli>"
    assert shown(result)["idle_timeout"] == "15.0 <profile>"
    assert shown(result)["user_memory"] == "2048 <default>"
    result.stdout.fnmatch_lines(
        [
            "openwhisk: cluster=local (default), namespace=_ (default), profile=idle-15s (cli)",
            "*idle-timeout=15s (profile)*",
        ]
    )
    explicit = pytester.runpytest("-s", "--ow-profile=idle-15s", "--ow-idle-timeout=1m")
    assert shown(explicit)["idle_timeout"] == "60.0 <cli>"


def test_profile_option_precedence(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(textwrap.dedent(SHOW))
    pytester.makeini("[pytest]\now_profile = idle-15s\n")
    assert shown(pytester.runpytest("-s"))["profile"] == "idle-15s <ini>"
    monkeypatch.setenv("OW_PROFILE", "no-prewarm")
    env = shown(pytester.runpytest("-s"))
    assert env["profile"] == "no-prewarm <env>"
    assert env["prewarm"] == "() <profile>"
    assert env["idle_timeout"] == "600.0 <default>"
    assert shown(pytester.runpytest("-s", "--ow-profile=default"))["profile"] == "default <cli>"


def test_profile_from_a_file(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(textwrap.dedent(SHOW))
    path = pytester.path / "mine.yaml"
    path.write_text("name: mine\nknobs:\n  user_memory: 4g\n  prewarm: {python:3.11: 1}\n")
    result = pytester.runpytest("-s", f"--ow-profile={path}")
    assert shown(result)["user_memory"] == "4096 <profile>"
    assert "python:3.11" in shown(result)["prewarm"]


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        (
            "new-scheduler",
            "*--ow-profile: profile 'new-scheduler' (*): `scheduler: new` cannot apply to the embedded "
            "OpenWhisk (--ow-cluster=local)*backends that have it: kind, existing. Fix: *",
        ),
        ("nope", "*--ow-profile: unknown profile 'nope'; ours are *"),
    ],
)
def test_a_profile_that_cannot_apply_is_a_usage_error(
    pytester: pytest.Pytester, ref: str, message: str
) -> None:
    pytester.makepyfile(textwrap.dedent(SHOW))
    result = pytester.runpytest(f"--ow-profile={ref}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_embedded_server_takes_the_profile_limits() -> None:
    settings = Settings(profile=load_profile("concurrency-20"))
    limits = local_config(settings).limits
    assert (limits.concurrency_min, limits.concurrency_max, limits.concurrency_default) == (1, 20, 2)
    plain = local_config(Settings()).limits
    assert plain.concurrency_max != 20
    assert (
        limits.invocations_per_minute == plain.invocations_per_minute
    )  # the rest stays the benchmark preset


TINY = """
CODE = "def main(args):\\n    return {'ok': True}\\n"


def test_warm(ow_action, ow_bench):
    ow_bench.warm(ow_action("tiny", code=CODE, kind="python:3.11"), {}, rounds=3, warmup=1)
"""


def test_benchmark_compare_sees_the_profile(pytester: pytest.Pytester) -> None:
    """Runs of the same profile compare without a fingerprint warning; another profile is named in one."""
    pytester.makepyfile(test_tiny=TINY)
    common = ("-p", "no:cacheprovider", "-W", "always::pytest_openwhisk.measure.compare.FingerprintWarning")
    first = pytester.runpytest_subprocess("--ow-profile=idle-15s", "--benchmark-autosave", *common)
    assert first.ret == 0, first.stdout.str()
    same = pytester.runpytest_subprocess("--ow-profile=idle-15s", "--benchmark-compare", *common)
    assert same.ret == 0
    assert "Benchmark cluster differs" not in same.stdout.str()
    other = pytester.runpytest_subprocess("--ow-profile=idle-10m", "--benchmark-compare", *common)
    other.stdout.fnmatch_lines(
        [
            "*Benchmark cluster differs from the compared run*",
            '*ow_fingerprint.profile.name: "idle-15s" -> "idle-10m"*',
        ]
    )
