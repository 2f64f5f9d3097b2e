"""One option resolver for every pytest front end: CLI > environment > ini > (.wskprops) > default.

:func:`resolve_option` looks a single option up in that order and returns the parsed value with
where it came from; the plugin's :mod:`~pytest_openwhisk.options` and the regression gate's
:mod:`~pytest_openwhisk.regress.settings` both resolve through it (``.wskprops`` is consulted by
``options`` only, for the apihost, auth key and namespace). Command-line values were already parsed
by their argparse ``type=``; environment and ini text goes through the same parser here, and a bad
value becomes a ``pytest.UsageError`` naming where it came from, the value, what is allowed and the
flag that overrides it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

#: where a resolved value came from, in precedence order
SOURCES = ("cli", "env", "ini", "wskprops", "default")


@dataclass(frozen=True)
class Resolved:
    """A resolved option: its value, its source (one of :data:`SOURCES`) and a readable origin."""

    value: Any
    source: str
    origin: str  # e.g. "--ow-prewarm", "environment variable OW_PREWARM", "ini option ow_prewarm"


def option_given(config: pytest.Config, dest: str) -> bool:
    """Whether the option stored under ``dest`` was given on the command line (not its default)."""
    value = config.getoption(dest, None)
    return value is not None and value != []


def ini_value(config: pytest.Config, name: str) -> Any:
    """The raw ini value of ``name`` (None when unset, empty or not registered)."""
    try:
        value = config.getini(name)
    except ValueError:  # not registered (plugin loaded late)
        return None
    return None if value in (None, "", []) else value


def resolve_option(
    config: pytest.Config,
    *,
    dest: str,
    flag: str,
    env_var: str,
    ini: str,
    parse: Callable[[str], Any],
    default: Any = None,
    multi: bool = False,
    env_split: str | None = os.pathsep,
    env: Mapping[str, str] | None = None,
) -> Resolved:
    """Resolve one option: ``--flag`` (argparse ``dest``) > ``env_var`` > ini key ``ini`` > ``default``.

    ``multi`` options collect a tuple: repeated flags, environment text split at ``env_split``
    (``os.pathsep`` by default; None keeps it whole), or one ini line per value. Relative paths from
    the ini file are taken relative to the ini file's folder.
    """
    environ = os.environ if env is None else env
    if option_given(config, dest):
        cli = config.getoption(dest)
        return Resolved(tuple(cli) if multi else cli, "cli", flag)
    raw_env = environ.get(env_var)
    if raw_env:
        origin = f"environment variable {env_var}"
        items = [i for i in raw_env.split(env_split) if i] if multi and env_split else [raw_env]
        parsed = [_parse(parse, item, origin, flag) for item in items]
        return Resolved(tuple(parsed) if multi else parsed[0], "env", origin)
    raw_ini = ini_value(config, ini)
    if raw_ini is not None:
        origin = f"ini option {ini}"
        items = list(raw_ini) if isinstance(raw_ini, list) else [raw_ini]
        base = config.inipath.parent if config.inipath else config.rootpath
        parsed = [_relative(_parse(parse, item, origin, flag), base) for item in items]
        return Resolved(tuple(parsed) if multi else parsed[0], "ini", origin)
    return Resolved(default, "default", flag)


def _parse(parse: Callable[[str], Any], item: object, origin: str, flag: str) -> Any:
    if not isinstance(item, str):
        return item  # an ini type pytest already converted
    try:
        return parse(item.strip())
    except (argparse.ArgumentTypeError, ValueError) as exc:
        raise pytest.UsageError(f"{origin}: {exc} (or override it with {flag})") from None


def _relative(value: Any, base: Path) -> Any:
    return base / value if isinstance(value, Path) and not value.is_absolute() else value
