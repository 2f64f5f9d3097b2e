"""Interleaved runners against the embedded OpenWhisk (in a thread): pairing, order, cold mode, Ctrl-C."""

from __future__ import annotations

import random
from typing import Any

import pytest

from pytest_openwhisk.ab.runner import AbInterrupted, run_ab, run_ab_concurrent
from pytest_openwhisk.client import OpenWhiskClient
from pytest_openwhisk.local.server import LocalOpenWhisk
from pytest_openwhisk.samples import Sample

from .conftest import Evictor


def test_warm_pairs_are_interleaved_in_a_seeded_random_order(client: OpenWhiskClient) -> None:
    result = run_ab(client, None, "ab-base", "ab-head", rounds=12, warmup=2, seed=7)
    base, head = result.base, result.head
    assert result.pairs == 12
    assert (base.name, head.name, base.mode) == ("base", "head", "warm")
    assert all(s.ok and s.action == "ab-base" for s in base.samples)
    assert all(s.ok and s.action == "ab-head" for s in head.samples)
    order = base.extra["ab"]["head_first"]
    assert order == head.extra["ab"]["head_first"]
    assert 0 < sum(order) < 12  # both orders occur
    for first_head, b, h in zip(order, base.samples, head.samples, strict=True):
        assert (h.sent < b.sent) == bool(first_head)  # invoked in the recorded order
    again = run_ab(client, None, "ab-base", "ab-head", rounds=12, warmup=0, seed=7)
    assert again.base.extra["ab"]["head_first"] == order  # same seed, same order
    assert base.extra["ab"]["other_action"] == "ab-head"


def test_head_params_and_result_per_side(client: OpenWhiskClient) -> None:
    result = run_ab(
        client, None, "ab-base", "ab-head", {"side": "x"}, rounds=3, warmup=0, head_params={"side": "y"}
    )
    assert result.pairs == 3


def test_cold_mode_forces_both_sides_cold(client: OpenWhiskClient, server: LocalOpenWhisk) -> None:
    evictor = Evictor(server, [])
    result = run_ab(client, evictor, "ab-base", "ab-head", rounds=3, warmup=0, mode="cold", seed=1)
    assert all(s.cold for s in result.base.samples + result.head.samples)
    assert sorted(evictor.calls) == ["ab-base"] * 3 + ["ab-head"] * 3
    with pytest.raises(ValueError, match="needs the backend"):
        run_ab(client, None, "ab-base", "ab-head", mode="cold")
    with pytest.raises(ValueError, match="mode='hot' is invalid"):
        run_ab(client, evictor, "ab-base", "ab-head", mode="hot")
    with pytest.raises(ValueError, match="rounds=0 is invalid"):
        run_ab(client, evictor, "ab-base", "ab-head", rounds=0)


def test_containers_spread_each_side_over_fresh_warm_containers(
    client: OpenWhiskClient, server: LocalOpenWhisk
) -> None:
    evictor = Evictor(server, [])
    result = run_ab(client, evictor, "ab-base", "ab-head", rounds=9, warmup=1, seed=3, containers=3)
    assert result.pairs == 9
    # both sides evicted before blocks 2 and 3; re-warmed, so no measured invocation is a cold start
    assert sorted(evictor.calls) == ["ab-base"] * 2 + ["ab-head"] * 2
    assert not any(s.cold for s in result.base.samples + result.head.samples)
    assert result.base.extra["containers"] == 3
    assert result.base.extra["blocks"] == [0, 3, 6]
    assert result.base.extra["warmup_errors"] == 0
    with pytest.raises(ValueError, match="containers=2 needs the backend"):
        run_ab(client, None, "ab-base", "ab-head", rounds=4, containers=2)
    with pytest.raises(ValueError, match="containers=2 applies to warm mode only"):
        run_ab(client, evictor, "ab-base", "ab-head", rounds=4, mode="cold", containers=2)
    with pytest.raises(ValueError, match="containers=5 exceeds rounds=4"):
        run_ab(client, evictor, "ab-base", "ab-head", rounds=4, containers=5)
    with pytest.raises(ValueError, match="containers=0 is invalid"):
        run_ab(client, evictor, "ab-base", "ab-head", rounds=4, containers=0)


class InterruptOnCall:
    """Forwards to a client; its ``n``-th ``invoke`` raises KeyboardInterrupt (Ctrl-C mid-pair)."""

    def __init__(self, client: OpenWhiskClient, n: int) -> None:
        self.client, self.n, self.calls = client, n, 0

    def invoke(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt
        return self.client.invoke(*args, **kwargs)


@pytest.mark.parametrize("warmup", [0, 1])
def test_ctrl_c_mid_pair_keeps_complete_pairs(client: OpenWhiskClient, warmup: int) -> None:
    interrupting = InterruptOnCall(client, 2 * warmup + 6)  # the second invocation of the third pair
    with pytest.raises(AbInterrupted) as caught:
        run_ab(interrupting, None, "ab-base", "ab-head", rounds=10, warmup=warmup)  # type: ignore[arg-type]
    result = caught.value.result
    assert isinstance(caught.value, KeyboardInterrupt)
    assert result.pairs == 2
    assert len(result.base.samples) == len(result.head.samples) == 2
    assert result.base.extra["interrupted"] is True
    assert result.head.extra["ab"]["head_first"] == result.base.extra["ab"]["head_first"]
    assert len(result.base.extra["ab"]["head_first"]) == 2


def test_ctrl_c_in_a_sample_callback(client: OpenWhiskClient) -> None:
    seen: list[Sample] = []

    def interrupt_on_third(sample: Sample) -> None:
        seen.append(sample)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(AbInterrupted) as caught:
        run_ab(client, None, "ab-base", "ab-head", rounds=10, warmup=0, on_sample=(interrupt_on_third, None))
    assert caught.value.result.pairs == 3  # the third pair was complete when its callback ran


def test_concurrent_pairs_per_client(client: OpenWhiskClient) -> None:
    result = run_ab_concurrent(client, "ab-base", "ab-head", clients=2, per_client=4, warmup=1, seed=3)
    assert result.pairs == 8
    assert result.base.mode == result.head.mode == "concurrent"
    assert all(s.ok for s in result.base.samples + result.head.samples)
    firsts = [min(b.sent, h.sent) for b, h in zip(result.base.samples, result.head.samples, strict=True)]
    assert firsts == sorted(firsts)


def test_order_is_a_fair_coin() -> None:
    rng = random.Random(0)
    flips = [rng.random() < 0.5 for _ in range(1000)]
    assert 450 < sum(flips) < 550  # the same draw run_ab makes per pair
