"""Deployment profiles (issue 17): named sets of ``--ow-*`` settings, knobs and Helm values, and the
``pytest-openwhisk matrix`` command that compares them. See docs/profiles.md.
"""

from __future__ import annotations

from pytest_openwhisk.profiles.apply import apply_profile, check_backend, values_file
from pytest_openwhisk.profiles.model import (
    KNOBS,
    Profile,
    ProfileError,
    available,
    load_profile,
    parse_profile,
    profiles_dir,
)

__all__ = [
    "KNOBS",
    "Profile",
    "ProfileError",
    "apply_profile",
    "available",
    "check_backend",
    "load_profile",
    "parse_profile",
    "profiles_dir",
    "values_file",
]
