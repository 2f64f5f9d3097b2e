"""The noise generator is seeded, toggles, and is bounded (stops on exit and on its own deadline)."""

from __future__ import annotations

import pytest

from pytest_openwhisk.ab.noise import NoiseGenerator
from pytest_openwhisk.wait import wait_until


def test_toggles_and_stops_its_workers() -> None:
    with NoiseGenerator(workers=1, seed=3, on_s=(0.05, 0.1), off_s=(0.05, 0.1), max_duration_s=60) as noise:
        wait_until(lambda: len(noise.toggles) >= 3, what="three noise toggles", timeout=30)
        assert noise.alive == 1
        states = [on for _, on in noise.toggles[:3]]
        assert states == [True, False, True]
        assert 0.0 < noise.duty_cycle() < 1.0
    assert noise.alive == 0


def test_workers_end_on_their_own_deadline() -> None:
    noise = NoiseGenerator(workers=1, seed=1, on_s=(0.05, 0.05), off_s=(0.05, 0.05), max_duration_s=0.5)
    noise.start()
    try:
        procs = list(noise._processes)
        wait_until(lambda: not any(p.is_alive() for p in procs), what="noise worker deadline", timeout=30)
    finally:
        noise.stop()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"workers": -1}, "workers=-1 is invalid"),
        ({"workers": 10_000}, "workers=10000 is invalid"),
        ({"on_s": (2.0, 1.0)}, r"on_s=\(2.0, 1.0\) is invalid"),
        ({"max_duration_s": 0}, "max_duration_s=0 is invalid"),
    ],
)
def test_bad_settings(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NoiseGenerator(**kwargs)  # type: ignore[arg-type]
