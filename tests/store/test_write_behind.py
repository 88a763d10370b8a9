"""write_behind: the stream's writes in order, one in flight, made while the last is sent."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graph_schema.store.write_behind import write_behind


@given(st.lists(st.integers()), st.integers(min_value=1, max_value=4))
def test_every_statement_is_sent_once_in_order(values: list[int], depth: int) -> None:
    sent: list[int] = []

    def send(v: int) -> int:
        sent.append(v)
        return v * 2

    assert write_behind(iter(values), send, depth) == [v * 2 for v in values]
    assert sent == values


def test_the_next_statement_is_made_while_one_is_sent() -> None:
    """The stream's next item is produced while the writer is inside send (the overlap)."""
    in_send = threading.Event()
    made_during_send: list[bool] = []
    release = threading.Event()

    def statements() -> Iterator[int]:
        yield 0
        made_during_send.append(in_send.wait(5))  # the writer is in send(0) now
        release.set()
        yield 1

    def send(v: int) -> int:
        if v == 0:
            in_send.set()
            assert release.wait(5), "the stream never made statement 1 while statement 0 was sent"
        return v

    assert write_behind(statements(), send) == [0, 1]
    assert made_during_send == [True]


def test_at_most_depth_made_statements_wait() -> None:
    """Memory stays bounded: a slow graph holds the stream back after depth + 1 statements."""
    made = 0
    gate = threading.Event()
    seen_ahead: list[int] = []

    def statements() -> Iterator[int]:
        nonlocal made
        for v in range(10):
            made += 1
            yield v

    def send(v: int) -> int:
        if v == 0:
            gate.wait(0.2)  # slow first write: the stream must not run ahead unbounded
            seen_ahead.append(made)
        return v

    assert write_behind(statements(), send, depth=2) == list(range(10))
    # while write 0 was in flight: 0 sent, 1 and 2 waiting, 3 made and held by the caller
    assert seen_ahead[0] <= 4


def test_a_failed_send_stops_the_stream_and_nothing_after_it_goes() -> None:
    sent: list[int] = []

    def send(v: int) -> int:
        if v == 3:
            raise RuntimeError("graph refused batch 3")
        sent.append(v)
        return v

    with pytest.raises(RuntimeError, match="batch 3"):
        write_behind(iter(range(10)), send)
    assert sent == [0, 1, 2]


def test_a_failing_stream_raises_after_the_write_in_flight() -> None:
    sent: list[int] = []

    def statements() -> Iterator[int]:
        yield 0
        yield 1
        raise ValueError("row 2 is bad")

    with pytest.raises(ValueError, match="row 2"):
        write_behind(statements(), sent.append)
    assert sent == [0] or sent == [0, 1]  # what was made before the failure may go; nothing after


def test_depth_must_be_positive() -> None:
    with pytest.raises(ValueError, match="depth"):
        write_behind([1], lambda v: v, depth=0)
