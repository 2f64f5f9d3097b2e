"""``python -m pytest_openwhisk.suite [pytest options]``: run the shipped main suite (no checkout needed).

The same as ``pytest --pyargs pytest_openwhisk.suite [options]``, e.g.
``python -m pytest_openwhisk.suite --ow-cluster=existing --ow-apihost=https://host --ow-auth=uuid:key``.
"""

from __future__ import annotations

import sys

import pytest


def main(argv: list[str] | None = None) -> int:
    """Run pytest on this package with ``argv`` (default: the command line) appended."""
    args = sys.argv[1:] if argv is None else argv
    return int(pytest.main(["--pyargs", "pytest_openwhisk.suite", *args]))


if __name__ == "__main__":
    sys.exit(main())
