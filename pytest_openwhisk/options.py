"""The ``--ow-*`` options: registration and the frozen :class:`Settings`.

Every option has a command-line flag ``--ow-NAME``, an ini key ``ow_NAME`` and an environment variable
``OW_NAME``. :meth:`Settings.from_config` resolves them in one place (:func:`~pytest_openwhisk.resolve.
resolve_option`) with the precedence CLI > env > ini > ``.wskprops`` (apihost, auth, namespace only) >
default, and records where each value came from. Value syntax is checked by the shared parsers of
:mod:`pytest_openwhisk.parsers` (argparse types); combinations by :meth:`Settings.from_config`
(``pytest.UsageError``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import pytest

from pytest_openwhisk.errors import ConfigError
from pytest_openwhisk.local.config import PoolConfig, StemCell
from pytest_openwhisk.names import is_entity_name
from pytest_openwhisk.parsers import (
    CLUSTERS,
    ISOLATIONS,
    LOCAL_MODES,
    choice,
    format_duration,
    format_prewarm,
    parse_bool,
    parse_duration,
    parse_int,
    parse_memory,
    parse_prewarm,
    text,
)
from pytest_openwhisk.resolve import resolve_option
from pytest_openwhisk.wskprops import load_wskprops

DEFAULT_CHART = "https://openwhisk.apache.org/charts"


@dataclass(frozen=True)
class _Opt:
    name: str  # Settings field; flag --ow-<name with dashes>, ini ow_<name>, env OW_<NAME>
    help: str
    parse: Callable[[str], Any] = text
    default: Any = None
    flag: bool = False  # store_true on the command line
    multi: bool = False  # repeatable; env separated by os.pathsep, ini one per line
    metavar: str | None = None

    @property
    def flag_name(self) -> str:
        return "--ow-" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return "OW_" + self.name.upper()


# fmt: off
OPTIONS: tuple[_Opt, ...] = (
    _Opt("cluster", "where OpenWhisk runs: local (embedded, default), kind (Helm on a kind cluster) or "
         "existing (--ow-apihost/--ow-auth)", choice("cluster", CLUSTERS), "local",
         metavar="local|kind|existing"),
    _Opt("apihost", "API host of an existing OpenWhisk, e.g. https://host:31001 (no scheme means https)",
         metavar="URL"),
    _Opt("auth", "API key UUID:KEY of an existing OpenWhisk (default: AUTH of ~/.wskprops)",
         metavar="UUID:KEY"),
    _Opt("namespace", "OpenWhisk namespace (default: _ = the key's own namespace)", metavar="NAME"),
    _Opt("kubeconfig", "kubeconfig for kind/existing clusters", Path, metavar="PATH"),
    _Opt("kube_context", "kubeconfig context to use", metavar="NAME"),
    _Opt("keep_cluster", "leave the cluster or local server running after the session", parse_bool, False,
         flag=True),
    _Opt("values", "extra Helm values file (repeatable; must exist)", Path, (), multi=True, metavar="FILE"),
    _Opt("monitoring", "collect Prometheus metrics for each measurement: off (default) or on", parse_bool,
         False, metavar="off|on"),
    _Opt("local_mode", "embedded server in a child process (default) or in a thread of pytest",
         choice("local-mode", LOCAL_MODES), "process", metavar="process|thread"),
    _Opt("prewarm", "prewarmed containers, kind:count[:memoryMB],... or none (default nodejs:20:2)",
         parse_prewarm, PoolConfig().prewarm, metavar="SPEC"),
    _Opt("idle_timeout", "destroy warm containers idle this long, e.g. 15s, 10m (default 10m)",
         parse_duration, PoolConfig().idle_container_timeout_s, metavar="DURATION"),
    _Opt("user_memory", "memory of the local container pool in MB (default 2048)", parse_memory,
         PoolConfig().user_memory_mb, metavar="MB"),
    _Opt("isolation", "sandbox of local runtimes: auto (bwrap when it works), bwrap or none",
         choice("isolation", ISOLATIONS), "auto", metavar="auto|bwrap|none"),
    _Opt("insecure", "skip TLS verification (self-signed existing/kind clusters)", parse_bool, False,
         flag=True),
    _Opt("results_dir", "directory for per-invocation CSV files and plots (default .ow-results)", Path,
         Path(".ow-results"), metavar="DIR"),
    _Opt("kind_cluster_name", "kind cluster name (default pytest-openwhisk)", default="pytest-openwhisk",
         metavar="NAME"),
    _Opt("helm_release", "Helm release name (default owdev)", default="owdev", metavar="NAME"),
    _Opt("helm_namespace", "Kubernetes namespace of the release (default openwhisk)", default="openwhisk",
         metavar="NAME"),
    _Opt("chart", f"OpenWhisk Helm chart: repo URL or local path (default {DEFAULT_CHART})",
         default=DEFAULT_CHART, metavar="CHART"),
    _Opt("chart_version", "chart version when --ow-chart is a repository URL (default: the newest)",
         metavar="VERSION"),
    _Opt("ab_base", "interleaved A/B: also deploy each action of the repository at this git ref and gate "
         "head against it (docs/regression.md)", metavar="GITREF"),
    _Opt("ab_containers", "interleaved A/B, warm mode: containers per side, each side measured in that many "
         "successive containers and tested per container (default 10; fewer = fewer cold starts on clusters, "
         "less protection against one container's own speed)", parse_int("ab_containers", 1, 1000), 10,
         metavar="N"),
    _Opt("energy", "energy per invocation on clusters: off (default) or kepler (needs --ow-monitoring=on)",
         choice("energy", ("off", "kepler")), "off", metavar="off|kepler"),
    _Opt("profile", "deployment profile: one of ours (helm/profiles/NAME.yaml) or a YAML file; explicit "
         "options win over it (docs/profiles.md)", metavar="NAME|PATH"),
)
# fmt: on
_BY_NAME = {opt.name: opt for opt in OPTIONS}
_WSKPROPS_FIELDS = ("apihost", "auth", "namespace")


def add_options(parser: pytest.Parser) -> None:
    """Register every ``--ow-*`` flag (group "openwhisk") and ``ow_*`` ini key."""
    group = parser.getgroup("openwhisk", "OpenWhisk benchmarks (pytest-openwhisk)")
    for opt in OPTIONS:
        help_text = f"{opt.help} [env {opt.env}, ini ow_{opt.name}]"
        if opt.flag:
            group.addoption(
                opt.flag_name, action="store_true", default=None, dest=f"ow_{opt.name}", help=help_text
            )
        else:
            group.addoption(
                opt.flag_name,
                action="append" if opt.multi else "store",
                type=opt.parse,
                default=None,
                dest=f"ow_{opt.name}",
                metavar=opt.metavar,
                help=help_text,
            )
        parser.addini(f"ow_{opt.name}", opt.help, type="linelist" if opt.multi else "string", default=None)


def _resolve(config: pytest.Config, env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for opt in OPTIONS:
        found = resolve_option(
            config,
            dest=f"ow_{opt.name}",
            flag=opt.flag_name,
            env_var=opt.env,
            ini=f"ow_{opt.name}",
            parse=opt.parse,
            default=opt.default,
            multi=opt.multi,
            env=env,
        )
        values[opt.name], sources[opt.name] = found.value, found.source
    return values, sources


def _check_auth(auth: str, source: str) -> None:
    key_id, sep, secret = auth.partition(":")
    try:
        uuid.UUID(key_id)
        valid = bool(sep and secret) and not any(ch.isspace() for ch in secret)
    except ValueError:
        valid = False
    if not valid:  # never echo the key itself
        raise pytest.UsageError(
            f"the auth key from {source} is not of the form UUID:KEY "
            f"(e.g. 23bc46b1-71f6-4ed5-8c54-816aa4f8c502:<key>, {len(auth)} characters given); "
            "copy it from `wsk property get --auth` or the Helm values (whisk.auth.guest)"
        )


@dataclass(frozen=True)
class Settings:
    """Every ``--ow-*`` setting after precedence resolution (``auth`` is masked in the repr)."""

    cluster: str = "local"
    apihost: str | None = None
    auth: str | None = None
    namespace: str = "_"
    kubeconfig: Path | None = None
    kube_context: str | None = None
    keep_cluster: bool = False
    values: tuple[Path, ...] = ()
    monitoring: bool = False
    local_mode: str = "process"
    prewarm: tuple[StemCell, ...] = PoolConfig().prewarm
    idle_timeout: float = PoolConfig().idle_container_timeout_s
    user_memory: int = PoolConfig().user_memory_mb
    isolation: str = "auto"
    insecure: bool = False
    results_dir: Path = Path(".ow-results")
    kind_cluster_name: str = "pytest-openwhisk"
    helm_release: str = "owdev"
    helm_namespace: str = "openwhisk"
    chart: str = DEFAULT_CHART
    chart_version: str | None = None
    energy: str = "off"  # --ow-energy: kepler on clusters
    ab_base: str | None = None  # --ow-ab-base: git ref of the A/B base
    ab_containers: int = 10  # --ow-ab-containers: warm A/B containers per side
    profile: Any = None  # the --ow-profile reference, a pytest_openwhisk.profiles.Profile once resolved
    rootpath: Path = field(default_factory=Path.cwd)
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}={'***' if f.name == 'auth' and self.auth else repr(getattr(self, f.name))}"
            for f in fields(self)
            if f.name != "sources"
        )
        return f"Settings({shown})"

    def source(self, name: str) -> str:
        """Where setting ``name`` came from: cli, env, ini, wskprops or default."""
        return self.sources.get(name, "default")

    @classmethod
    def from_config(cls, config: pytest.Config, env: Mapping[str, str] | None = None) -> Settings:
        """Resolve all options of ``config`` (CLI > env > ini > .wskprops > default) and check combinations.

        Raises ``pytest.UsageError`` with a message naming the value, what is allowed and the fix.
        """
        env = os.environ if env is None else env
        values, sources = _resolve(config, env)
        missing = [name for name in _WSKPROPS_FIELDS if sources[name] == "default"]
        if missing:
            try:
                props = load_wskprops(env)
            except ConfigError as exc:
                raise pytest.UsageError(f"{exc}; fix or remove that file (or set WSK_CONFIG_FILE)") from None
            for name in missing:
                found = getattr(props, name) if props else None
                if found:
                    values[name], sources[name] = found, "wskprops"
        if values["namespace"] is None:
            values["namespace"] = "_"
        settings = cls(**values, rootpath=config.rootpath, sources=sources)
        settings._check(config)
        if not settings.results_dir.is_absolute():
            settings = replace(settings, results_dir=config.rootpath / settings.results_dir)
        return settings._with_profile()

    def _with_profile(self) -> Settings:
        """The settings with ``--ow-profile`` applied (:func:`pytest_openwhisk.profiles.apply_profile`)."""
        if self.profile is None:
            return self
        from pytest_openwhisk.profiles import apply_profile

        try:
            return apply_profile(self)  # type: ignore[no-any-return]
        except ConfigError as exc:
            origin = _describe_source("profile", self.source("profile"))
            raise pytest.UsageError(f"{origin}: {exc}") from None

    def _check(self, config: pytest.Config) -> None:
        src = self.sources
        if self.cluster == "existing" and self.kubeconfig is None and not (self.apihost and self.auth):
            raise pytest.UsageError(
                "--ow-cluster=existing requires --ow-apihost and --ow-auth "
                "(or OW_APIHOST/OW_AUTH, or a ~/.wskprops with APIHOST and AUTH), "
                "or --ow-kubeconfig to use the Helm release's guest key and node address"
            )
        if self.cluster == "local":
            for name in ("kubeconfig", "kube_context", "values", "chart_version"):
                if src.get(name) in ("cli", "env", "ini"):
                    raise pytest.UsageError(
                        f"{_BY_NAME[name].flag_name} applies to Kubernetes clusters only; "
                        "drop it or use --ow-cluster=kind (or existing)"
                    )
            for name in ("apihost", "auth"):
                if src.get(name) == "cli":
                    raise pytest.UsageError(
                        f"{_BY_NAME[name].flag_name} is not used by --ow-cluster=local (the embedded server "
                        "makes its own); drop it or use --ow-cluster=existing"
                    )
        if self.cluster != "local" and self.auth:
            _check_auth(self.auth, _describe_source("auth", src.get("auth", "default")))
        if self.cluster == "existing" and self.apihost:
            scheme = self.apihost.split("://", 1)[0] if "://" in self.apihost else "https"
            if scheme not in ("http", "https") or not self.apihost.split("://")[-1].strip("/"):
                raise pytest.UsageError(
                    f"invalid apihost {self.apihost!r} from {_describe_source('apihost', src['apihost'])}; "
                    "use host[:port] or http(s)://host[:port], e.g. https://openwhisk.example.com:443"
                )
        if self.cluster == "local":
            from pytest_openwhisk.local.manifest import resolve_kind

            for cell in self.prewarm:
                try:
                    resolve_kind(cell.kind)
                except ValueError as exc:
                    origin = _describe_source("prewarm", src.get("prewarm", "default"))
                    raise pytest.UsageError(
                        f"prewarm {format_prewarm(self.prewarm)!r} from {origin}: {exc} "
                        "(use kind:count entries with those kinds, or none)"
                    ) from None
        if self.namespace != "_" and not is_entity_name(self.namespace):
            raise pytest.UsageError(
                f"invalid namespace {self.namespace!r}; use _ (the key's namespace) or a name of letters, "
                "digits and @ . & - _"
            )
        for path in self.values:
            if not path.is_file():
                raise pytest.UsageError(
                    f"Helm values file {str(path)!r} (--ow-values) does not exist; check the path "
                    "(relative paths start at the current directory, or the ini file's for ow_values)"
                )
        if self.kubeconfig is not None and not self.kubeconfig.is_file():
            raise pytest.UsageError(f"kubeconfig {str(self.kubeconfig)!r} (--ow-kubeconfig) does not exist")
        workers = config.getoption("numprocesses", None)
        if self.cluster == "kind" and workers:
            raise pytest.UsageError(
                f"--ow-cluster=kind cannot run under xdist (-n {workers}): every worker would create the "
                "cluster; drop -n, or create it once and use --ow-cluster=existing with -n"
            )

    def header_lines(self) -> list[str]:
        """Lines for ``pytest_report_header``: each relevant setting with its source; no secrets."""

        def show(name: str, value: object) -> str:
            return f"{name.replace('_', '-')}={value} ({self.source(name)})"

        first = [show("cluster", self.cluster)]
        if self.cluster != "local":
            first.append(show("apihost", self.apihost or "-"))
            first.append(f"auth={'set' if self.auth else 'unset'} ({self.source('auth')})")
        first.append(show("namespace", self.namespace))
        if self.profile is not None:
            first.append(show("profile", getattr(self.profile, "name", self.profile)))
        lines = ["openwhisk: " + ", ".join(first)]
        if self.cluster == "local":
            lines.append(
                "openwhisk: "
                + ", ".join(
                    [
                        show("local_mode", self.local_mode),
                        show("prewarm", format_prewarm(self.prewarm)),
                        show("idle_timeout", format_duration(self.idle_timeout)),
                        show("user_memory", f"{self.user_memory}MB"),
                        show("isolation", self.isolation),
                    ]
                )
            )
        if self.cluster == "kind" or (self.cluster == "existing" and self.kubeconfig is not None):
            helm = [
                show("helm_release", self.helm_release),
                show("helm_namespace", self.helm_namespace),
                show("chart", self.chart),
            ]
            if self.cluster == "kind":
                helm.insert(0, show("kind_cluster_name", self.kind_cluster_name))
            else:
                helm.insert(0, show("kubeconfig", self.kubeconfig))
            if self.chart_version:
                helm.append(show("chart_version", self.chart_version))
            lines.append("openwhisk: " + ", ".join(helm))
        extra = [
            show("monitoring", "on" if self.monitoring else "off"),
            show("results_dir", self.results_dir),
        ]
        if self.keep_cluster:
            extra.append(show("keep_cluster", "yes"))
        if self.insecure:
            extra.append(show("insecure", "yes"))
        lines.append("openwhisk: " + ", ".join(extra))
        return lines


def _describe_source(name: str, source: str) -> str:
    opt = _BY_NAME[name]
    return {
        "cli": opt.flag_name,
        "env": f"environment variable {opt.env}",
        "ini": f"ini option ow_{name}",
        "wskprops": "the .wskprops file (AUTH/APIHOST)",
    }.get(source, opt.flag_name)
