"""Processes started together: each waits on a shared event, so they all begin at once."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from typing import Any


def run_together(
    target: Callable[..., None], args: Sequence[tuple[Any, ...]], timeout: float
) -> tuple[list[Any], list[int | None]]:
    """Start one spawned process per args tuple as target(*args, go, out); release them
    together; return what each put on `out` (in arrival order) and their exit codes."""
    ctx = multiprocessing.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*a, go, out)) for a in args]
    for p in procs:
        p.start()
    go.set()
    results = [out.get(timeout=timeout) for _ in procs]
    for p in procs:
        p.join(60)
    return results, [p.exitcode for p in procs]
