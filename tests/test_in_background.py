"""service.jobs.refresh.in_background: a read started at once, its result (or error) when asked."""

from __future__ import annotations

import threading

import pytest

from service.jobs.refresh import in_background


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
