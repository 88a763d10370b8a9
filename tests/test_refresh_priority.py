"""The refresh job yields the CPU to serving: its thread (and what it starts) runs at
REFRESH_NICE, the other threads of the process keep their priority."""

from __future__ import annotations

import os
import threading

from service.jobs.refresh import yield_to_serving


def _priority_in_thread(nice: int) -> tuple[int, int]:
    out: list[int] = []

    def job() -> None:
        yield_to_serving(nice)
        out.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        child: list[int] = []
        t = threading.Thread(target=lambda: child.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id())))
        t.start()
        t.join()
        out.extend(child)

    t = threading.Thread(target=job)
    t.start()
    t.join()
    return out[0], out[1]


def test_the_refresh_thread_and_its_children_are_niced_and_serving_is_not() -> None:
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    job, child = _priority_in_thread(max(mine + 3, 7))
    assert job == child == max(mine + 3, 7)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine


def test_zero_leaves_the_priority_alone() -> None:
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert _priority_in_thread(0) == (mine, mine)
