"""`ahead`: a write-back's next batch made by a worker thread while the caller writes the last."""

from __future__ import annotations

import threading
import time

import pytest

from graph_schema.store.base import ahead, batches


def test_items_come_in_order_each_once() -> None:
    assert list(ahead(batches(range(10), 3))) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert list(ahead([])) == []


def test_the_next_item_is_made_while_the_caller_works_on_the_last() -> None:
    made: list[tuple[int, str]] = []

    def slow() -> object:
        for k in range(3):
            made.append((k, threading.current_thread().name))
            yield k

    it = ahead(slow())
    assert next(it) == 0
    deadline = time.monotonic() + 5
    while len(made) < 2 and time.monotonic() < deadline:  # made without the caller asking
        time.sleep(0.01)
    assert [k for k, _ in made] == [0, 1]
    assert all(name.startswith("ahead") for _, name in made)
    assert list(it) == [1, 2]


def test_an_error_in_making_an_item_is_raised_at_that_item() -> None:
    def failing() -> object:
        yield "a"
        raise ValueError("row 2 is bad")

    it = ahead(failing())
    assert next(it) == "a"
    with pytest.raises(ValueError, match="row 2 is bad"):
        next(it)


def test_a_caller_that_stops_early_leaves_no_thread_behind() -> None:
    made: list[int] = []

    def counting() -> object:
        for k in range(1000):
            made.append(k)
            yield k

    it = ahead(counting())
    assert next(it) == 0
    it.close()  # the caller's write failed: nothing more is made beyond the one in flight
    assert len(made) <= 2
    assert not any(t.name.startswith("ahead") for t in threading.enumerate())
