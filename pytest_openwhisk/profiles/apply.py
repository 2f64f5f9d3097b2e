"""Apply a profile to a backend: refuse knobs it does not have, merge the profile into the settings."""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import yaml

from pytest_openwhisk.profiles.model import KNOBS, Profile, ProfileError, _show

_BACKENDS = {
    "local": "the embedded OpenWhisk (--ow-cluster=local)",
    "kind": "kind (--ow-cluster=kind)",
    "existing": "an existing cluster (--ow-cluster=existing with --ow-kubeconfig)",
}


def check_backend(profile: Profile, cluster: str) -> None:
    """Raise :class:`ProfileError` for a knob ``cluster`` does not have, naming the backends that do."""
    where = f"profile {profile.name!r} ({profile.origin})"
    if cluster == "local":
        for knob in profile.cluster_only():
            value = "..." if knob == "helm" else _show(knob, profile.knobs[knob])
            have = (
                "kind, existing (Helm values of the openwhisk chart)"
                if knob == "helm"
                else ", ".join(KNOBS[knob])
            )
            what = (
                "the embedded OpenWhisk has one built-in scheduler (the invoker's container pool)"
                if knob == "scheduler"
                else "the embedded OpenWhisk does not model it"
            )
            raise ProfileError(
                f"{where}: `{knob}: {value}` cannot apply to {_BACKENDS['local']}: {what}; "
                f"backends that have it: {have}. Fix: run with --ow-cluster=kind (or existing), or remove "
                f"`{knob}` from the profile"
            )
        from pytest_openwhisk.local.manifest import resolve_kind

        for cell in profile.knobs.get("prewarm", ()):
            try:
                resolve_kind(cell.kind)
            except ValueError as exc:
                raise ProfileError(
                    f"{where}: knob prewarm: {exc} Fix: use those kinds, e.g. "
                    "prewarm: {python:3.11: 2, nodejs:20: 2}"
                ) from None
    if cluster == "kind" and profile.knobs.get("container_factory") == "docker":
        raise ProfileError(
            f"{where}: `container_factory: docker` cannot work on {_BACKENDS['kind']}: kind nodes run "
            "containerd, not a Docker daemon the invoker could drive; backends that have it: existing (nodes "
            "with Docker). Fix: use --ow-cluster=existing, or container_factory: kubernetes on kind"
        )


def values_file(profile: Profile, results_dir: Path) -> Path:
    """Write the profile's Helm values to ``results_dir/profiles/<name>.values.yaml`` (``{}`` when none).

    The file exists even for a profile of options only: a values layer makes the existing backend upgrade
    the release (it only connects to an installed release without ``--ow-values``), so the profile's
    options are deployed rather than refused as differing from the release.
    """
    values = profile.helm_values()
    path = Path(results_dir) / "profiles" / f"{profile.name}.values.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = f"# written by pytest-openwhisk from profile {profile.name!r} ({profile.origin}); do not edit\n"
    path.write_text(header + yaml.safe_dump(values, sort_keys=True), encoding="utf-8")
    return path


def apply_profile(settings: Any, profile: Profile | None = None) -> Any:
    """``settings`` with the profile (``settings.profile`` or ``profile``) applied.

    Each ``--ow-*`` value of the profile replaces a value the user did not give (source ``default``;
    the source becomes ``profile``): explicit options win. On kind/existing the profile's Helm values are
    written to a file that becomes the first ``--ow-values`` layer (after our base file and the options,
    before the user's files). Raises :class:`ProfileError` for knobs the backend does not have.
    """
    profile = profile if profile is not None else getattr(settings, "profile", None)
    if profile is None:
        return settings
    if not isinstance(profile, Profile):
        from pytest_openwhisk.profiles.model import load_profile

        profile = load_profile(str(profile))
    check_backend(profile, settings.cluster)
    sources = dict(settings.sources)
    changes: dict[str, Any] = {"profile": profile} if "profile" in {f.name for f in fields(settings)} else {}
    for name, value in profile.settings.items():
        if sources.get(name, "default") == "default":
            changes[name] = value
            sources[name] = "profile"
    if settings.cluster != "local":
        changes["values"] = (values_file(profile, settings.results_dir), *settings.values)
    return replace(settings, **changes, sources=sources)
