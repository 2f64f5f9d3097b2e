"""Names shared by the client, the embedded server and the result files (standard library only).

- :data:`ACTIVATION_ID_HEADER`: the response header carrying an invocation's activation id;
- :data:`ENTITY_NAME` / :func:`is_entity_name`: OpenWhisk's rule for action, package and namespace
  names (an ASCII word character, then up to 255 of word characters, ``@``, space, ``.``, ``&``, ``-``,
  not ending with a space);
- :func:`slug`: any text as one bounded file, folder or entity-name fragment.
"""

from __future__ import annotations

import hashlib
import re

#: header of an invoke response that names the activation (also on 202 and error responses)
ACTIVATION_ID_HEADER = "x-openwhisk-activation-id"
#: longest entity name OpenWhisk accepts
ENTITY_NAME_MAX = 256
#: OpenWhisk's entity-name rule (``EntityName`` in its controller): use :func:`is_entity_name`
ENTITY_NAME = re.compile(r"\A(?:\w|\w[\w@ .&-]{0,254}[\w@.&-])\Z", re.ASCII)
#: longest slug kept as is; longer ones are cut and end with a hash of the whole text (still unique)
MAX_SLUG = 120
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_HASH_CHARS = 10


def is_entity_name(name: object) -> bool:
    """Whether ``name`` is a valid OpenWhisk entity name (one path segment, no ``/``)."""
    return isinstance(name, str) and len(name) <= ENTITY_NAME_MAX and ENTITY_NAME.match(name) is not None


def slug(text: str, *, max_len: int = MAX_SLUG, fallback: str = "unnamed", sep: str = "_") -> str:
    """``text`` as letters, digits and ``._-`` only, at most ``max_len`` characters.

    Every run of other characters becomes ``sep``; leading and trailing ``._-`` go, so the slug starts
    and ends with a letter or digit (a valid entity-name fragment too). Longer slugs are cut and end with
    ``-`` and a hash of the whole text, so two long texts never share a slug. ``fallback`` replaces an
    empty result. ``tests/test_x.py::test_a[64]`` -> ``tests_test_x.py_test_a_64``.
    """
    cleaned = _UNSAFE.sub(sep, text).strip("._-") or fallback
    if len(cleaned) <= max_len:
        return cleaned
    digest = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:_HASH_CHARS]
    return f"{cleaned[: max_len - _HASH_CHARS - 1].rstrip('._-')}-{digest}"
