"""OpenWhisk backends: ``load_backend(settings, workdir)`` imports the chosen one lazily."""

from __future__ import annotations

import importlib
from pathlib import Path

from pytest_openwhisk.backends.base import Backend, BaseBackend
from pytest_openwhisk.options import Settings

#: cluster name -> (module, class); modules are imported only when chosen
BACKENDS: dict[str, tuple[str, str]] = {
    "local": ("pytest_openwhisk.backends.local", "LocalBackend"),
    "kind": ("pytest_openwhisk.backends.kind", "KindBackend"),
    "existing": ("pytest_openwhisk.backends.existing", "ExistingBackend"),
}


def load_backend(settings: Settings, workdir: Path) -> Backend:
    """Instantiate the backend named by ``settings.cluster`` (not started: use it as a context manager)."""
    try:
        module_name, class_name = BACKENDS[settings.cluster]
    except KeyError:
        raise ValueError(f"unknown cluster {settings.cluster!r}; choose from {', '.join(BACKENDS)}") from None
    module = importlib.import_module(module_name)
    backend: Backend = getattr(module, class_name)(settings, workdir)
    return backend


__all__ = ["BACKENDS", "Backend", "BaseBackend", "load_backend"]
