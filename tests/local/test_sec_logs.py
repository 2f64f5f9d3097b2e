"""Hostile log output (issue 12 items 4, 5): unfinished huge lines and sentinel floods stay bounded."""

from __future__ import annotations

import asyncio

from pytest_openwhisk.local.invoker import Invoker
from pytest_openwhisk.local.logs import COLLECTION_ERROR, MAX_PENDING, SENTINEL, TRUNCATED, StreamTail
from pytest_openwhisk.local.types import SUCCESS, RunOutcome

from .invoker_helpers import request, run_with, spec

MB = 1024 * 1024


def test_unfinished_line_is_capped_as_it_arrives_and_a_glued_sentinel_still_cuts() -> None:
    async def scenario() -> tuple[list[tuple[int, str]], bool, bool, int]:
        tail = StreamTail("stdout", limit_bytes=1 * MB)
        piece = b"x" * 65536
        biggest = 0
        for _ in range(8 * 16):  # 8 MB without a newline, in pipe-sized reads
            tail.feed(piece)
            biggest = max(biggest, sum(len(p) for p in tail._partial))
        tail.feed(SENTINEL.encode() + b"\n")
        lines, truncated, complete = await tail.next_chunk(0.1)
        return lines, truncated, complete, biggest

    lines, truncated, complete, biggest = asyncio.run(scenario())
    assert biggest <= MB + len(SENTINEL) + 1  # never the whole 8 MB line
    assert complete  # the sentinel glued to the line ended the activation
    assert truncated
    assert lines == []


def test_short_line_glued_to_the_sentinel_keeps_its_text() -> None:
    async def scenario() -> tuple[list[tuple[int, str]], bool, bool]:
        tail = StreamTail("stdout")
        tail.feed(b"no newline here" + SENTINEL.encode() + b"\nnext\n" + SENTINEL.encode() + b"\n")
        first = await tail.next_chunk(0.1)
        second = await tail.next_chunk(0.1)
        assert [t for _, t in second[0]] == ["next"]
        return first

    lines, truncated, complete = asyncio.run(scenario())
    assert [t for _, t in lines] == ["no newline here"]
    assert complete
    assert not truncated


def test_sentinel_flood_keeps_a_bounded_number_of_chunks() -> None:
    async def scenario() -> int:
        tail = StreamTail("stdout", limit_bytes=MB)
        tail.feed((SENTINEL.encode() + b"\nabc\n") * 200_000)
        return tail.pending

    assert asyncio.run(scenario()) <= MAX_PENDING


def test_pending_chunks_share_the_log_limit() -> None:
    async def scenario() -> int:
        tail = StreamTail("stdout", limit_bytes=1000)
        for _ in range(MAX_PENDING * 4):
            tail.feed(b"y" * 400 + b"\n" + SENTINEL.encode() + b"\n")
        kept = 0
        while tail.pending:
            lines, _, _ = await tail.next_chunk(0.1)
            kept += sum(len(t) for _, t in lines)
        return kept

    assert asyncio.run(scenario()) <= 1000


def test_action_printing_a_huge_line_without_newline_gets_its_logs_collected() -> None:
    code = "import sys\ndef main(args):\n    sys.stdout.write('z' * (20 << 20))\n    return {'ok': True}\n"

    async def scenario(invoker: Invoker) -> tuple[RunOutcome, RunOutcome]:
        action = spec(code, "noisy", logs_mb=1)
        first = await invoker.run(request(action))
        return first, await invoker.run(request(spec("def main(a):\n    return a\n", "quiet")))

    first, second = run_with(scenario)
    assert first.status_code == SUCCESS, first.result
    assert any(TRUNCATED.format(limit=MB) in line for line in first.logs), first.logs[-2:]
    assert not any(COLLECTION_ERROR in line for line in first.logs)  # the glued sentinel was found
    assert second.status_code == SUCCESS


def test_action_printing_sentinels_in_a_loop_does_not_grow_the_invoker() -> None:
    code = (
        "import sys\n"
        f"S = {SENTINEL!r} + '\\n'\n"
        "def main(args):\n"
        "    for _ in range(200000):\n"
        "        sys.stdout.write(S)\n"
        "    sys.stdout.flush()\n"
        "    return {'ok': True}\n"
    )

    async def scenario(invoker: Invoker) -> tuple[RunOutcome, int]:
        outcome = await invoker.run(request(spec(code, "flood")))
        entry = invoker.pool.entries[0]
        return outcome, entry.container.stdout.pending

    outcome, pending = run_with(scenario)
    assert outcome.status_code == SUCCESS, outcome.result
    assert pending <= MAX_PENDING


def test_next_chunk_waits_for_a_later_sentinel_and_times_out_with_what_is_there() -> None:
    async def scenario() -> tuple[tuple[list[tuple[int, str]], bool, bool], ...]:
        tail = StreamTail("stdout")
        loop = asyncio.get_running_loop()
        loop.call_soon(tail.feed, b"late\n" + SENTINEL.encode() + b"\n")
        waited = await tail.next_chunk(5.0)  # nothing yet: woken by the cut, not by the timer
        tail.feed(b"no sentinel\n")
        timed_out = await tail.next_chunk(0.01)
        tail.feed(b"last words")
        tail.close()
        at_eof = await tail.next_chunk(5.0)
        after_eof = await tail.next_chunk(5.0)
        return waited, timed_out, at_eof, after_eof

    waited, timed_out, at_eof, after_eof = asyncio.run(scenario())
    assert [t for _, t in waited[0]] == ["late"]
    assert waited[2]
    assert [t for _, t in timed_out[0]] == ["no sentinel"]
    assert not timed_out[2]
    assert [t for _, t in at_eof[0]] == ["last words"]
    assert at_eof[2]
    assert after_eof == ([], False, True)
