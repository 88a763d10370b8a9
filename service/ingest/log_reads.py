"""Read-only views of the event log for the web console: a user's events, the log's
states, and how fast events arrive. SQL only; the writing side is eventlog.py."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from records.tables import EventRecord

EVENTS = EventRecord.__table__
MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    ts: int  # the event's own time, epoch ms
    item_id: str
    type: str
    weight: float
    status: str  # pending | applied | failed


def user_events(sessions: sessionmaker, user_id: str, limit: int) -> list[LoggedEvent]:
    """The user's `limit` newest events (by their own time), oldest first (ix on user_id)."""
    with sessions() as session:
        rows = session.execute(
            select(EVENTS.c.ts, EVENTS.c.item_id, EVENTS.c.type, EVENTS.c.weight, EVENTS.c.status)
            .where(EVENTS.c.user_id == user_id)
            .order_by(EVENTS.c.ts.desc(), EVENTS.c.id.desc())
            .limit(limit)
        ).all()
    return [LoggedEvent(int(t), str(i), str(ty), float(w), str(s)) for t, i, ty, w, s in reversed(rows)]


def backlog(sessions: sessionmaker) -> dict[str, int]:
    """Events not (yet) in the graph: pending and failed, each counted on the status index
    (the applied ones, nearly all of the log, would need a scan)."""
    with sessions() as session:
        return {
            status: int(session.scalar(select(func.count()).where(EVENTS.c.status == status)) or 0)
            for status in ("pending", "failed")
        }


def received_per_minute(sessions: sessionmaker, until_ms: int, minutes: int) -> list[tuple[int, int]]:
    """(minute start, events received) for the `minutes` minutes up to the one holding
    `until_ms`, zeros included.

    By receive time, not the events' own: this is the load on the log. Scans the events
    received in that window (no index on received_at: the console caches the answer)."""
    last = until_ms - until_ms % MINUTE_MS
    first = last - (minutes - 1) * MINUTE_MS
    minute = (EVENTS.c.received_at - EVENTS.c.received_at % MINUTE_MS).label("minute")
    with sessions() as session:
        rows = session.execute(select(minute, func.count()).where(EVENTS.c.received_at >= first).group_by(minute)).all()
    counts = {int(m): int(n) for m, n in rows}
    return [(m, counts.get(m, 0)) for m in range(first, last + MINUTE_MS, MINUTE_MS)]
