"""Secrets never reach a saved file: :func:`scrub` masks every auth key (``***``) in a JSON-like value.

What to mask for a pytest run comes from :func:`pytest_openwhisk.measure.machine.secrets_of`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"
#: shorter key parts are not masked on their own (they would mask ordinary words)
MIN_KEY_CHARS = 8


def auth_words(auths: Iterable[object]) -> list[str]:
    """Each ``uuid:key`` auth and its key part (longest first), the strings to mask."""
    found: set[str] = set()
    for auth in auths:
        if isinstance(auth, str) and auth:
            found.add(auth)
            key = auth.partition(":")[2]
            if len(key) >= MIN_KEY_CHARS:
                found.add(key)
    return sorted(found, key=len, reverse=True)


def scrub(value: Any, secrets: Iterable[str]) -> Any:
    """A copy of ``value`` (JSON-like) with every occurrence of a secret string replaced by ``***``."""
    words = [s for s in secrets if s]
    if not words:
        return value
    if isinstance(value, str):
        for word in words:
            value = value.replace(word, MASK)
        return value
    if isinstance(value, Mapping):
        return {scrub(k, words): scrub(v, words) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v, words) for v in value]
    return value
