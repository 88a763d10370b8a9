"""write_behind and in_background: the store's round trips in order, overlapped with the caller's work."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graph_schema.store.overlap import in_background, write_behind


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
    """Memory stays bounded: a slow graph holds the stream back after depth + 1 statements
    (one in flight, `depth` waiting)."""
    made = 0
    enough = threading.Event()
    seen_ahead: list[int] = []

    def statements() -> Iterator[int]:
        nonlocal made
        for v in range(10):
            made += 1
            if made >= 3:
                enough.set()
            yield v

    def send(v: int) -> int:
        if v == 0:  # a slow first write: the stream must not run ahead of the bound
            enough.wait(5)
            time.sleep(0.1)  # room for a wrong bound to make a 4th
            seen_ahead.append(made)
        return v

    assert write_behind(statements(), send, depth=2) == list(range(10))
    # while write 0 was in flight: 1 and 2 waiting behind it, none made beyond
    assert seen_ahead == [3]


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


def failing_at_row_2() -> Iterator[int]:
    """A stream whose third batch cannot be made."""
    yield 0
    yield 1
    raise ValueError("row 2 is bad")


def test_a_failing_stream_raises_after_the_write_in_flight() -> None:
    sent: list[int] = []
    finished = threading.Event()

    def send(v: int) -> None:
        if v == 1:
            time.sleep(0.2)  # still in flight when the stream fails
            finished.set()
        sent.append(v)

    with pytest.raises(ValueError, match="row 2"):
        write_behind(failing_at_row_2(), send)
    assert finished.is_set(), "the error was raised before the write in flight returned"
    assert sent == [0, 1]


def test_a_send_failing_while_the_stream_fails_is_noted_on_the_error() -> None:
    def send(v: int) -> None:
        if v == 1:
            time.sleep(0.2)
            raise ConnectionError("graph dropped batch 1")

    with pytest.raises(ValueError, match="row 2") as info:
        write_behind(failing_at_row_2(), send)
    assert any("graph dropped batch 1" in note for note in info.value.__notes__)


def test_depth_must_be_positive() -> None:
    with pytest.raises(ValueError, match="depth"):
        write_behind([1], lambda v: v, depth=0)


def test_the_read_runs_before_it_is_asked_for_and_gives_its_result() -> None:
    running = threading.Event()

    def read() -> list[int]:
        running.set()
        return [1, 2]

    result = in_background(read)
    assert running.wait(5), "the read did not start until asked"
    assert result() == [1, 2]
    assert result() == [1, 2]  # asked again: the same result, not a second read


def test_the_caller_goes_on_while_the_read_waits() -> None:
    release = threading.Event()
    result = in_background(lambda: release.wait(5) and "done")
    release.set()  # reached while the read is still waiting: the call did not block
    assert result() == "done"


def test_a_failed_read_raises_when_asked() -> None:
    def read() -> None:
        raise RuntimeError("event log unreachable")

    result = in_background(read)
    with pytest.raises(RuntimeError, match="unreachable"):
        result()
