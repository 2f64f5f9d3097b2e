"""``python -m pytest_openwhisk.suite [pytest options]``: run the shipped main suite (no checkout needed).

The same as ``pytest-openwhisk suite [options]`` (``pytest --pyargs pytest_openwhisk.suite [options]``), e.g.
``python -m pytest_openwhisk.suite --ow-cluster=existing --ow-apihost=https://host --ow-auth=uuid:key``.
"""

from __future__ import annotations

import sys

from pytest_openwhisk.cli import run_suite


def main(argv: list[str] | None = None) -> int:
    """Run the shipped suite with ``argv`` (default: the command line) passed to pytest."""
    return run_suite(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
