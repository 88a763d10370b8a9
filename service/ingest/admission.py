"""Admission of ingest batches: at most INGEST_MAX_BATCHES at once per API worker.

A batch holds one of the worker's request threads while it runs, and while it waits for
the worker's ingest process (INGEST_NICE > 0). Enough concurrent ingest connections to
one worker would hold every thread, and recommendation requests would queue behind
them. Past the limit a batch is refused at once (503 `ingest-busy` with Retry-After),
once the framework has parsed its body and before it is validated or anything is
written, so the client resends it later; event ids make the resend safe. Refusing
instead of waiting is the point: a waiting batch holds a thread too.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

RETRY_AFTER_S = 1


class IngestBusy(Exception):
    """This worker already takes as many batches as it may."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"this API worker is already taking {limit} ingest batch(es), its limit (INGEST_MAX_BATCHES)")
        self.limit = limit


class IngestGate:
    """Counts the batches this process takes; `limit` 0: no limit."""

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ValueError(f"limit must be >= 0, not {limit}")
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit) if limit else None

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the limit's slots for the block; IngestBusy if none is free."""
        if self._slots is None:
            yield
            return
        if not self._slots.acquire(blocking=False):
            raise IngestBusy(self.limit)
        try:
            yield
        finally:
            self._slots.release()
