"""When a cached answer is still good: the change feed (RECS_FRESHNESS=feed).

With RECS_FRESHNESS=check every request asks the graph for the user's `rev` and the
event log for their negative feedback before it may use a cached answer: exact, but two
store round trips on every hit. With `feed` (the default) a worker instead tails the
event log, at most every RECS_FEED_POLL_MS, and forgets the cached answers of the users
whose events it sees; a hit then costs no store query at all.

- Each user has a generation number in the worker; it is part of the answer cache's key,
  so raising it makes the user's entries unreachable (the LRU drops them).
- The worker that takes an event batch or a privacy delete raises the users' generations
  at once (touch): its own answers are exact. Other workers see the change at their next
  poll, so an answer can lag the log by up to the poll interval (plus the graph apply
  when INGEST_APPLY=background: a row is counted once it is no longer `pending`).
- A poll reads the rows after a cursor: (id, user, status). The cursor stops before the
  first `pending` row (applied to the graph later) and, on PostgreSQL, before rows younger
  than RECS_FEED_SETTLE_MS: a sequence hands out ids before commit, so a lower id can
  commit after a higher one was read. SQLite has one writer at a time: no settling.
  Rows above the cursor that were already counted are remembered, so a user is
  invalidated once per row.
- Impressions change no answer and are not read; privacy deletes come from the
  deleted-users table; the published model version is read by the same poll.
- Relation events (follow, unfollow, friend, unfriend) have their own table and cursor:
  each changes its user (and, for friend / unfriend, the target too: both directions are
  written). They are written to the graph in the request that logs them, just after the
  row commits, so a row is counted at every poll until it is RELATION_SETTLE_MS old: a
  poll that saw it before the graph write counts it again after.
The first poll starts the cursor at the log's end, or just before its first `pending` row
(a backlog of INGEST_APPLY=background, a graph outage): an answer computed before that
row's apply must be forgotten when it is applied.
A row left `pending` longer than STUCK_MS (a writer killed mid-batch) is counted and
passed, so the feed never stops; the replay that applies it later invalidates nothing
(the entry's time to live, RECS_ANSWER_TTL_S, bounds that case).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from graph_schema.clock import now_ms
from graph_schema.store.serving import ServingReads
from graph_schema.store.social import changed_by

STUCK_MS = 60_000
# per poll (~7 ms on SQLite): behind a pending row the same rows are read again each poll,
# so with INGEST_APPLY=background and a deep backlog, rows past this wait for the applier
MAX_ROWS = 5_000
MAX_USERS = 1_000_000  # generations kept before they (and the answers) are forgotten
RELATION_SETTLE_MS = 1_000


class ChangeLog(Protocol):
    """What the feed reads of the event log (service.ingest.eventlog.EventLog)."""

    def dialect(self) -> str: ...
    def last_row_id(self) -> int: ...
    def first_pending_id(self) -> int | None: ...
    def changes_after(self, after_id: int, limit: int) -> list[tuple[int, str, str, int]]: ...
    def last_relation_id(self) -> int: ...
    def relations_after(self, after_id: int, limit: int) -> list[tuple[int, str, str, str, int]]: ...
    def deleted_since(self, since_ms: int) -> list[tuple[str, int]]: ...


class ChangeFeed:
    def __init__(self, poll_ms: float, settle_ms: int, on_reset: Callable[[], None]) -> None:
        self.poll_s = poll_ms / 1000.0
        self.settle_ms = settle_ms
        self.on_reset = on_reset  # forget every cached answer (generations are reset)
        self.model_version: str | None = None
        self._cursor: int | None = None
        self._relation_cursor: int | None = None
        self._counted: set[int] = set()  # rows above the cursor already counted
        self._deleted_since = 0
        self._gen: dict[str, int] = {}
        self._next = 0
        # a user the table does not hold is at the floor: after a reset, above every
        # generation a request may have read before it (see _bump)
        self._floor = 0
        self._polled_at = float("-inf")
        self._lock = threading.Lock()

    def generation(self, user_id: str) -> int:
        return self._gen.get(user_id, self._floor)

    def touch(self, users: Iterable[str]) -> None:
        """These users' cached answers are stale (this worker changed them)."""
        with self._lock:
            self._bump(users)

    def _bump(self, users: Iterable[str]) -> None:
        for user in users:
            self._next += 1
            self._gen[user] = self._next
        if len(self._gen) > MAX_USERS:
            # everyone moves to a new floor, above any generation handed out so far: an
            # answer or profile computed before the reset and stored after it (keyed by
            # the generation its request read) can never be found again. Back at 0, a
            # user read at 0 before a change would meet the stale entry.
            # (the floor first: generation() does not lock, and must not see the old floor
            # once the table is empty)
            self._next += 1
            self._floor = self._next
            self._gen = {}
            self.on_reset()

    def current(self, eventlog: ChangeLog, store: ServingReads) -> None:
        """Poll if the last poll is older than the interval (one thread polls; the others
        go on with what the last poll saw)."""
        if time.monotonic() - self._polled_at < self.poll_s:
            return
        if not self._lock.acquire(blocking=False):
            return
        try:
            self._poll(eventlog, store)
        finally:
            self._lock.release()

    def _poll(self, eventlog: ChangeLog, store: ServingReads) -> None:
        now = now_ms()
        settle = self.settle_ms if eventlog.dialect() != "sqlite" else 0
        if self._cursor is None:  # the cache starts empty: nothing before now matters ...
            self._cursor, self._deleted_since = eventlog.last_row_id(), now - settle
            pending = eventlog.first_pending_id()
            if pending is not None:  # ... but a row the graph does not have yet: its apply will
                self._cursor = min(self._cursor, pending - 1)
        changed: set[str] = set()
        cursor, passing = self._cursor, True
        for row_id, user, status, received in eventlog.changes_after(self._cursor, MAX_ROWS):
            if status == "pending" and now - received < STUCK_MS:
                passing = False
                continue
            if row_id not in self._counted:
                changed.add(user)
                self._counted.add(row_id)
            if passing and now - received >= settle:
                cursor = row_id
            else:
                passing = False
        self._cursor = cursor
        self._counted = {r for r in self._counted if r > cursor}
        changed.update(self._relations(eventlog, now, settle))
        changed.update(user for user, _ in eventlog.deleted_since(self._deleted_since))
        self._deleted_since = now - settle - 10_000  # re-read 10 s back: a delete that committed late
        self._bump(changed)
        self.model_version = store.current_model_version()
        self._polled_at = time.monotonic()

    def _relations(self, eventlog: ChangeLog, now: int, settle: int) -> set[str]:
        """The users whose relations changed: every row after the relation cursor, which
        passes a row once it is RELATION_SETTLE_MS (or the settle time) old."""
        if self._relation_cursor is None:
            self._relation_cursor = eventlog.last_relation_id()
        changed: set[str] = set()
        cursor, passing = self._relation_cursor, True
        for row_id, user, target, type_, received in eventlog.relations_after(self._relation_cursor, MAX_ROWS):
            changed.update(changed_by(type_, user, target))
            if passing and now - received >= max(RELATION_SETTLE_MS, settle):
                cursor = row_id
            else:
                passing = False
        self._relation_cursor = cursor
        return changed


__all__ = ["ChangeFeed", "ChangeLog"]
