"""A store's round trips overlapped with the client's work on the rows around them.

The graph runs in its own process (FalkorDB) or on its own server (Neo4j), so while it
answers one query the client can work on the rows of another, on the machine's other core.

write_behind: a refresh's write-back is a stream of batches. Each batch costs the client
(the rows, and their parameter text) and then the graph (parsing and applying it). Sent one
after another, the two take turns; with `write_behind` the calling thread makes batch k+1
while a writer thread waits for the graph to apply batch k.

Still one write in flight at a time, sent in the stream's order (so "the last row
wins" holds across batches as it does within one), and at most `depth` made batches
wait besides it, so memory stays bounded. A failed write stops the stream: the caller
gets its exception at its next batch, and nothing after it is sent.

in_background: one read started now, its result taken later (a refresh's SQL aggregate).

The work runs on daemon threads of our own (_Lane), not a concurrent.futures pool: such a
pool refuses new work once the interpreter begins to exit (a refresh still running when its
scheduler stops would fail at its next batch) and holds the exit up for work nobody waits
for (an unused background read).
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

S = TypeVar("S")
R = TypeVar("R")


def write_behind(statements: Iterable[S], send: Callable[[S], R], depth: int = 1) -> list[R]:
    """send(s) for every s of `statements`, in order, on one writer thread, while the
    calling thread makes the next ones; the results in order. Raises the failure (of the
    stream, or the first send's) once the write in flight has returned; a send that failed
    while the stream did is noted on the stream's exception."""
    if depth < 1:
        raise ValueError("depth must be at least 1")
    results: list[R] = []
    pending: deque[_Call[R]] = deque()
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

    with _Lane("graph-write") as writer:
        try:
            for statement in statements:
                pending.append(writer.submit(guarded, statement))
                while len(pending) > depth:
                    results.append(pending.popleft().result())
            while pending:
                results.append(pending.popleft().result())
        except BaseException as exc:
            for call in pending:
                call.cancel()  # not yet sent: never sent; the one in flight finishes
            for call in pending:
                call.wait()
                if call.error is not None and not isinstance(call.error, _NotSent) and call.error is not exc:
                    exc.add_note(f"a graph write in flight failed too: {call.error!r}")
            raise
    return results


def in_background(read: Callable[[], R]) -> Callable[[], R]:
    """`read` started now on a thread of its own; the returned call waits for its result
    (or raises its exception), as often as asked. For a read that spends its time in a
    database, which releases the GIL, so the calling thread goes on meanwhile."""
    with _Lane("background") as lane:
        call = lane.submit(lambda _: read(), None)
    return call.result


class _Call(Generic[R]):
    """One call queued on a lane: its result or its exception once it ran."""

    def __init__(self, fn: Callable[[Any], R], arg: Any) -> None:
        self.fn, self.arg = fn, arg
        self.value: R | None = None
        self.error: BaseException | None = None
        self._done = threading.Event()
        self._cancelled = False

    def run(self) -> None:
        try:
            if not self._cancelled:
                self.value = self.fn(self.arg)
        except BaseException as exc:  # handed to whoever asks for the result
            self.error = exc
        finally:
            self._done.set()

    def cancel(self) -> None:
        """Skip the call if it has not started (one running finishes)."""
        self._cancelled = True

    def wait(self) -> None:
        self._done.wait()

    def result(self) -> R:
        self._done.wait()
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


class _Lane:
    """Calls run one after another, in the order given, on one daemon thread; the thread
    ends once the lane is closed and its queue is done."""

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue[_Call[Any] | None] = queue.SimpleQueue()
        threading.Thread(target=self._serve, name=name, daemon=True).start()

    def submit(self, fn: Callable[[Any], R], arg: Any) -> _Call[R]:
        call: _Call[R] = _Call(fn, arg)
        self._calls.put(call)
        return call

    def close(self) -> None:
        self._calls.put(None)

    def __enter__(self) -> _Lane:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve(self) -> None:
        while (call := self._calls.get()) is not None:
            call.run()


class _NotSent(Exception):
    """A write queued behind a failed one (never seen: the failure is raised first)."""
