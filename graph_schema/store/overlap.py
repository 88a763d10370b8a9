"""A store's round trips overlapped with the client's work on the rows around them.

The graph runs in its own process (FalkorDB) or on its own server (Neo4j), so while it
answers one query the client can work on the rows of another, on the machine's other core.

write_behind: a refresh's write-back is a stream of batches. Each batch costs the client (the rows,
and their parameter text) and then the graph (parsing and applying it), which runs in
its own process (FalkorDB) or on its own server (Neo4j). Sent one after another, the two
take turns; with `write_behind` the calling thread makes batch k+1 while a writer thread
waits for the graph to apply batch k.

Still one write in flight at a time, sent in the stream's order (so "the last row
wins" holds across batches as it does within one), and at most `depth` made batches
wait besides it, so memory stays bounded. A failed write stops the stream: the caller
gets its exception at its next batch, and nothing after it is sent.

read_ahead: a keyset-paged pull. Page k+1 is asked for as soon as page k has arrived
(its last key is the next one's start), while the caller turns page k into columns.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

S = TypeVar("S")
R = TypeVar("R")
A = TypeVar("A")


def write_behind(statements: Iterable[S], send: Callable[[S], R], depth: int = 1) -> list[R]:
    """send(s) for every s of `statements`, in order, on one writer thread, while the
    calling thread makes the next ones; the results in order. Raises the first failure
    (of the stream or of a send) after the write in flight has returned."""
    if depth < 1:
        raise ValueError("depth must be at least 1")
    results: list[R] = []
    pending: deque[Future[R]] = deque()
    failed = threading.Event()

    def guarded(statement: S) -> R:
        # the writer runs one send after another: once one failed, the queued ones never go
        if failed.is_set():
            raise _NotSent
        try:
            return send(statement)
        except BaseException:
            failed.set()
            raise

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="graph-write") as writer:
        try:
            for statement in statements:
                pending.append(writer.submit(guarded, statement))
                while len(pending) > depth:
                    results.append(pending.popleft().result())
            while pending:
                results.append(pending.popleft().result())
        except BaseException:
            for future in pending:
                future.cancel()  # not yet sent: never sent; the one in flight finishes
            raise
    return results


def read_ahead(fetch: Callable[[A], R], first: A, next_of: Callable[[R], A | None]) -> Iterator[R]:
    """fetch(first), then fetch(next_of(page)) for each page while next_of gives one, each
    read on a reader thread as soon as the page before it has arrived; the pages in order.
    At most one read is ahead of the caller. A failed read is raised where its page would
    be; a caller that stops early waits only for the read in flight."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="graph-read") as reader:
        ahead: Future[R] | None = reader.submit(fetch, first)
        while ahead is not None:
            page = ahead.result()
            after = next_of(page)
            ahead = reader.submit(fetch, after) if after is not None else None
            yield page


class _NotSent(Exception):
    """A write queued behind a failed one (never seen: the failure is raised first)."""
