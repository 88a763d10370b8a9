"""write_behind and read_ahead: the store's round trips in order, overlapped with the caller's work."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graph_schema.store.overlap import read_ahead, write_behind


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


def test_read_ahead_yields_every_page_in_order_and_stops_where_told() -> None:
    asked: list[int] = []

    def fetch(after: int) -> list[int]:
        asked.append(after)
        return list(range(after, min(after + 3, 10)))

    pages = list(read_ahead(fetch, 0, lambda page: page[-1] + 1 if len(page) == 3 else None))
    assert pages == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert asked == [0, 3, 6, 9]


def test_read_ahead_reads_the_next_page_while_the_caller_works_on_this_one() -> None:
    second_asked = threading.Event()

    def fetch(after: int) -> int:
        if after == 1:
            second_asked.set()
        return after

    pages = read_ahead(fetch, 0, lambda page: page + 1 if page < 1 else None)
    assert next(pages) == 0
    # the caller has page 0 and has not asked for more: page 1 is already being read
    assert second_asked.wait(5)
    assert list(pages) == [1]


def test_read_ahead_raises_a_failed_read_where_its_page_would_be() -> None:
    def fetch(after: int) -> int:
        if after == 2:
            raise ConnectionError("graph went away at page 2")
        return after

    got: list[int] = []
    with pytest.raises(ConnectionError, match="page 2"):
        for page in read_ahead(fetch, 0, lambda page: page + 1):
            got.append(page)
    assert got == [0, 1]


def test_read_ahead_stopped_early_does_not_read_on() -> None:
    asked: list[int] = []

    def fetch(after: int) -> int:
        asked.append(after)
        return after

    pages = read_ahead(fetch, 0, lambda page: page + 1)
    assert next(pages) == 0
    pages.close()  # the caller stops: the read in flight finishes, no other starts
    assert asked == [0, 1]
