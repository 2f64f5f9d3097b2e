"""Read and write ``.wskprops`` files, the property file of the ``wsk`` CLI.

The CLI reads ``$WSK_CONFIG_FILE`` when set, else ``~/.wskprops``: one ``KEY=VALUE`` per line
(``APIHOST``, ``AUTH``, ``NAMESPACE``, ...), ``#`` comments and blank lines ignored.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pytest_openwhisk.errors import ConfigError


def wskprops_path(env: Mapping[str, str]) -> Path:
    """The file the ``wsk`` CLI would read: ``$WSK_CONFIG_FILE`` or ``$HOME/.wskprops``."""
    configured = env.get("WSK_CONFIG_FILE")
    if configured:
        return Path(configured).expanduser()
    home = env.get("HOME")
    return (Path(home) if home else Path.home()) / ".wskprops"


def parse_wskprops(text: str, *, origin: str = "<wskprops>") -> dict[str, str]:
    """Parse ``KEY=VALUE`` lines; raise :class:`ConfigError` naming ``origin`` and the bad line."""
    props: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"{origin}:{number}: expected KEY=VALUE (e.g. APIHOST=https://host:443), got {line[:40]!r}"
            )
        props[key.strip().upper()] = value.strip()
    return props


@dataclass(frozen=True)
class WskProps:
    """The properties found in one ``.wskprops`` file (``auth`` is never shown in the repr)."""

    path: Path
    apihost: str | None = None
    auth: str | None = field(default=None, repr=False)
    namespace: str | None = None


def load_wskprops(env: Mapping[str, str]) -> WskProps | None:
    """Load the CLI's property file, or None when it does not exist."""
    path = wskprops_path(env)
    if not path.is_file():
        return None
    props = parse_wskprops(path.read_text(encoding="utf-8"), origin=str(path))
    return WskProps(
        path=path,
        apihost=props.get("APIHOST") or None,
        auth=props.get("AUTH") or None,
        namespace=props.get("NAMESPACE") or None,
    )


def write_wskprops(path: Path, *, apihost: str, auth: str, namespace: str | None = None) -> Path:
    """Write a ``.wskprops`` readable only by its owner (mode 0600) and return its path."""
    lines = [f"APIHOST={apihost}", f"AUTH={auth}"]
    if namespace:
        lines.append(f"NAMESPACE={namespace}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)
    return path
