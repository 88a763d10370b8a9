"""When the scheduler will start the next refresh, read from APScheduler's job store
(the `apscheduler_jobs` table in the SQL database), so any process can tell — the
scheduler may run in another one (docs/deploy.md)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from graph_schema.clock import now_ms
from service.jobs.scheduler import REFRESH_JOB_ID

JOBS_TABLE = "apscheduler_jobs"  # as build_scheduler names it


@dataclass(frozen=True)
class ScheduleStatus:
    next_refresh_ms: int | None  # epoch ms; None: not scheduled
    health: str  # ok | overdue | paused | not scheduled

    @property
    def ok(self) -> bool:
        return self.health == "ok"


def refresh_schedule(sessions: sessionmaker, grace_s: float) -> ScheduleStatus:
    """The refresh job's next run time; `overdue` when it is more than `grace_s` past
    (no scheduler process is picking it up)."""
    try:
        with sessions() as session:
            row = session.execute(
                text(f"SELECT next_run_time FROM {JOBS_TABLE} WHERE id = :id"), {"id": REFRESH_JOB_ID}
            ).first()
    except SQLAlchemyError:  # no scheduler ever ran against this database: no table yet
        return ScheduleStatus(None, "not scheduled")
    if row is None:
        return ScheduleStatus(None, "not scheduled")
    if row[0] is None:
        return ScheduleStatus(None, "paused")
    at = int(float(row[0]) * 1000)  # APScheduler stores epoch seconds (float)
    return ScheduleStatus(at, "overdue" if at < now_ms() - grace_s * 1000 else "ok")
