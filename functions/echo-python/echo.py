"""Echo: returns its parameters unchanged (calibration: the platform's fixed cost per invocation)."""

from typing import Any


def main(args: dict[str, Any]) -> dict[str, Any]:
    """Return the invocation parameters as the result."""
    return dict(args)
