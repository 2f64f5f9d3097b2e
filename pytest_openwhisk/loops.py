"""The one place that creates asyncio event loops (uvloop's when asked for and installed)."""

from __future__ import annotations

import asyncio


def new_event_loop(uvloop: bool = True) -> asyncio.AbstractEventLoop:
    """A new event loop: uvloop's when ``uvloop`` is true and the package is installed, else asyncio's."""
    if uvloop:
        try:
            import uvloop as _uvloop
        except ImportError:
            pass
        else:
            return _uvloop.new_event_loop()
    return asyncio.new_event_loop()
