"""Online experiments: arms, the deterministic user split, per-arm reports.

A user's arm is a pure function of (experiment id, user id): sha256 -> a number
u in [0, 1). u < holdout: the holdout (served the default strategy, measured
too); otherwise the arms share the rest by their weights. No assignment is
stored, so every API worker agrees and a user stays in the same arm.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import sessionmaker

from graph_schema.clock import now_ms
from records.tables import EventAttribution, EventRecord, ExperimentRecord
from service.loop.stats import compare

HOLDOUT = "(holdout)"  # not a valid arm name: never collides with one
DEFAULT_STRATEGY = "blend"
CLICK_TYPES = ("click",)
CONVERSION_TYPES = ("cart", "purchase")


@dataclass(frozen=True)
class Arm:
    name: str
    strategy: str
    blend: tuple[tuple[str, float], ...] = ()  # source weights replacing the strategy's (sorted)
    model_version: str | None = None  # a pinned publish served from its kept snapshot; None: the published one


def _arm(spec: dict[str, Any]) -> Arm:
    return Arm(
        spec["name"], spec["strategy"], tuple(sorted((spec.get("blend") or {}).items())), spec.get("model_version")
    )


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    name: str
    arms: list[dict[str, Any]]
    holdout: float
    status: str
    created_at: int

    def assign(self, user_id: str) -> Arm:
        digest = hashlib.sha256(f"{self.experiment_id}\x1f{user_id}".encode()).digest()
        u = int.from_bytes(digest[:8], "big") / 2.0**64
        if u < self.holdout:
            return Arm(HOLDOUT, DEFAULT_STRATEGY)
        point = (u - self.holdout) / (1.0 - self.holdout) * sum(a["weight"] for a in self.arms)
        for arm in self.arms:
            point -= arm["weight"]
            if point < 0:
                return _arm(arm)
        return _arm(self.arms[-1])

    def as_dict(self) -> dict[str, Any]:
        return {
            "experiment_id": self.experiment_id,
            "name": self.name,
            "arms": self.arms,
            "holdout": self.holdout,
            "status": self.status,
            "created_at": self.created_at,
        }


def _of(row: ExperimentRecord) -> Experiment:
    return Experiment(row.experiment_id, row.name, list(row.arms), row.holdout, row.status, row.created_at)


class Experiments:
    """The experiments table, and the running experiment cached for `ttl_s` per worker."""

    def __init__(self, sessions: sessionmaker, ttl_s: float = 5.0) -> None:
        self.sessions = sessions
        self.ttl_s = ttl_s
        self._running: tuple[float, Experiment | None] | None = None
        self._lock = threading.Lock()

    def create(self, name: str, arms: list[dict[str, Any]], holdout: float) -> tuple[Experiment, list[str]]:
        """A new running experiment, and the ids of the running ones it stopped (one at a time)."""
        row = ExperimentRecord(
            experiment_id=uuid.uuid4().hex[:12], name=name, arms=arms, holdout=holdout, status="running"
        )
        with self.sessions.begin() as session:
            stopped = session.scalars(
                update(ExperimentRecord)
                .where(ExperimentRecord.status == "running")
                .values(status="stopped", stopped_at=now_ms())
                .returning(ExperimentRecord.experiment_id)
            ).all()
            session.add(row)
        self.forget()
        return _of(row), list(stopped)

    def stop(self, experiment_id: str) -> bool:
        with self.sessions.begin() as session:
            n = session.execute(
                update(ExperimentRecord)
                .where(ExperimentRecord.experiment_id == experiment_id, ExperimentRecord.status == "running")
                .values(status="stopped", stopped_at=now_ms())
            ).rowcount
        self.forget()
        return bool(n)

    def get(self, experiment_id: str) -> Experiment | None:
        with self.sessions() as session:
            row = session.get(ExperimentRecord, experiment_id)
            return _of(row) if row is not None else None

    def forget(self) -> None:
        with self._lock:
            self._running = None

    def running(self) -> Experiment | None:
        with self._lock:
            cached = self._running
        if cached is not None and time.monotonic() - cached[0] < self.ttl_s:
            return cached[1]
        with self.sessions() as session:
            row = session.scalars(
                select(ExperimentRecord)
                .where(ExperimentRecord.status == "running")
                .order_by(ExperimentRecord.created_at.desc())
                .limit(1)
            ).first()
            found = _of(row) if row is not None else None
        with self._lock:
            self._running = (time.monotonic(), found)
        return found

    def report(self, experiment: Experiment) -> dict[str, Any]:
        """Per arm: impressions, clicks, CTR, conversions; each arm against the first
        (the control) with a 95 % interval of the CTR difference and a verdict."""
        ev, at = EventRecord.__table__, EventAttribution.__table__
        with self.sessions() as session:
            rows = session.execute(
                select(at.c.arm, ev.c.type, func.count(), func.count(func.distinct(ev.c.user_id)))
                .select_from(at.join(ev, ev.c.event_id == at.c.event_id))
                .where(at.c.experiment_id == experiment.experiment_id)
                .group_by(at.c.arm, ev.c.type)
            ).all()
        counts: dict[str, dict[str, int]] = {}
        users: dict[str, int] = {}
        for arm, type_, n, n_users in rows:
            counts.setdefault(arm or "", {})[type_] = int(n)
            if type_ == "impression":
                users[arm or ""] = int(n_users)
        names = [a["name"] for a in experiment.arms] + ([HOLDOUT] if experiment.holdout > 0 else [])
        control = experiment.arms[0]["name"]

        def tally(name: str) -> tuple[int, int, int]:
            c = counts.get(name, {})
            return (
                c.get("impression", 0),
                sum(c.get(t, 0) for t in CLICK_TYPES),
                sum(c.get(t, 0) for t in CONVERSION_TYPES),
            )

        shown_c, clicks_c, _ = tally(control)
        arms = []
        for name in names:
            shown, clicks, conversions = tally(name)
            entry: dict[str, Any] = {
                "arm": name,
                "strategy": next((a["strategy"] for a in experiment.arms if a["name"] == name), DEFAULT_STRATEGY),
                "blend": next((a.get("blend") for a in experiment.arms if a["name"] == name), None),
                "model_version": next((a.get("model_version") for a in experiment.arms if a["name"] == name), None),
                "users": users.get(name, 0),
                "impressions": shown,
                "clicks": clicks,
                "ctr": clicks / shown if shown else None,
                "conversions": conversions,
                "conversion_rate": conversions / shown if shown else None,
            }
            if name != control:
                cmp = compare(min(clicks, shown), shown, min(clicks_c, shown_c), shown_c)
                entry["vs_control"] = {
                    "control": control,
                    "ctr_difference": cmp.difference,
                    "ci95": [cmp.ci_low, cmp.ci_high],
                    "z": cmp.z,
                    "p_value": cmp.p_value,
                    "verdict": cmp.verdict,
                }
            arms.append(entry)
        return {**experiment.as_dict(), "control": control, "results": arms}


__all__ = ["HOLDOUT", "Arm", "Experiment", "Experiments"]
