"""Published interest strengths per model version, per user (SQL, no torch).

The graph holds the strengths of the published version only. After each publication the
refresh job copies them here (`record_version`), and the console's user page plots a
user's strengths across versions (`user_history`). Only the newest `keep` versions are
kept, so the table holds at most keep × users rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from graph_schema.clock import now_ms
from records.tables import DeletedUser, StrengthHistoryRecord

INSERT_BATCH = 5_000


@dataclass(frozen=True, slots=True)
class VersionStrengths:
    """One user's published strengths under one model version."""

    model_version: str
    at_ms: int  # the version's data time: the newest interaction it was trained on
    strengths: dict[str, float]  # interest id -> strength


def record_version(
    sessions: sessionmaker,
    model_version: str,
    at_ms: int,
    rows: Iterable[tuple[str, dict[str, float]]],
    keep: int,
    recorded_since: int,
) -> int:
    """Store (user id, {interest: strength}) rows of `model_version`, replacing any rows it
    already had (a retried job), leave out users deleted for privacy since
    `recorded_since` (the run's start), then drop all but the newest `keep` versions. One
    transaction: readers see the version whole or not at all. Returns the rows written."""
    recorded_at = now_ms()
    written = 0
    with sessions.begin() as s:
        s.execute(delete(StrengthHistoryRecord).where(StrengthHistoryRecord.model_version == model_version))
        batch: list[dict[str, object]] = []
        for user_id, strengths in rows:
            batch.append(
                {
                    "user_id": user_id,
                    "model_version": model_version,
                    "at_ms": at_ms,
                    "strengths": strengths,
                    "recorded_at": recorded_at,
                }
            )
            if len(batch) >= INSERT_BATCH:
                s.execute(insert(StrengthHistoryRecord), batch)
                written += len(batch)
                batch = []
        if batch:
            s.execute(insert(StrengthHistoryRecord), batch)
            written += len(batch)
        # a privacy delete during the run: its user was read from the graph before the delete
        gone = select(DeletedUser.user_id).where(DeletedUser.deleted_at >= recorded_since)
        s.execute(
            delete(StrengthHistoryRecord).where(
                StrengthHistoryRecord.model_version == model_version, StrengthHistoryRecord.user_id.in_(gone)
            )
        )
        _drop_old_versions(s, keep)
    return written


def _drop_old_versions(s: Session, keep: int) -> None:
    newest = func.max(StrengthHistoryRecord.recorded_at)
    versions = s.execute(
        select(StrengthHistoryRecord.model_version)
        .group_by(StrengthHistoryRecord.model_version)
        .order_by(newest.desc(), StrengthHistoryRecord.model_version.desc())
    ).scalars()
    old = list(versions)[max(keep, 0) :]
    if old:
        s.execute(delete(StrengthHistoryRecord).where(StrengthHistoryRecord.model_version.in_(old)))


def user_history(sessions: sessionmaker, user_id: str) -> list[VersionStrengths]:
    """The user's strengths under each kept version, oldest version first."""
    with sessions() as s:
        rows = s.execute(
            select(StrengthHistoryRecord)
            .where(StrengthHistoryRecord.user_id == user_id)
            .order_by(StrengthHistoryRecord.recorded_at, StrengthHistoryRecord.model_version)
        ).scalars()
        return [VersionStrengths(r.model_version, r.at_ms, dict(r.strengths)) for r in rows]
