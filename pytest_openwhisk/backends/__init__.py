"""OpenWhisk backends: ``load_backend(settings, workdir)`` imports the chosen one lazily."""

from __future__ import annotations

import importlib
from pathlib import Path

from pytest_openwhisk.backends.base import Backend, BaseBackend, Capacity
from pytest_openwhisk.options import Settings

#: cluster name -> (module, class); modules are imported only when chosen
BACKENDS: dict[str, tuple[str, str]] = {
    "local": ("pytest_openwhisk.backends.local", "LocalBackend"),
    "kind": ("pytest_openwhisk.backends.kind", "KindBackend"),
    "existing": ("pytest_openwhisk.backends.existing", "ExistingBackend"),
}


def backend_class(cluster: str) -> type[BaseBackend]:
    """The backend class for ``cluster`` (its module imported now); ValueError naming the choices."""
    try:
        module_name, class_name = BACKENDS[cluster]
    except KeyError:
        raise ValueError(f"unknown cluster {cluster!r}; choose from {', '.join(BACKENDS)}") from None
    cls: type[BaseBackend] = getattr(importlib.import_module(module_name), class_name)
    return cls


def load_backend(settings: Settings, workdir: Path) -> Backend:
    """Instantiate the backend named by ``settings.cluster`` (not started: use it as a context manager)."""
    return backend_class(settings.cluster)(settings, workdir)


def preflight(settings: Settings) -> list[str]:
    """What stops the chosen backend from starting (missing tools with their install step); [] when ready."""
    return backend_class(settings.cluster).preflight(settings)


__all__ = ["BACKENDS", "Backend", "BaseBackend", "Capacity", "backend_class", "load_backend", "preflight"]
