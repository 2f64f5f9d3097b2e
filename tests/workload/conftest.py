"""Fixtures of the workload tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .fake_openwhisk import FakeOpenWhisk


@pytest.fixture
def fake() -> Iterator[FakeOpenWhisk]:
    """A fake OpenWhisk where 'slow' takes 0.5 s, 'hold' waits for ``release()``, 'throttled' answers 429."""
    with FakeOpenWhisk(delays={"slow": 0.5}) as server:
        yield server
