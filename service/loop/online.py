"""Online metrics per (model version, strategy), computed from the event log.

Only events sent with a rec_id count (they name the answer's strategy and model
version). Per group:
- impressions, users (distinct users with an impression), clicks, ctr;
- ctr_at_k: clicks / impressions among positions 1..k (k = ONLINE_CTR_K);
- conversion_rate: cart + purchase events / impressions;
- coverage: distinct items shown / items in the catalogue (or seen in the log);
- novelty: mean popularity rank of the items shown (1 = the most interacted item;
  higher = less popular);
- diversity: mean, over answers with 2+ impressions, of the share of item pairs
  that share no interest (intra-list diversity by interest).
Each computation is stored as one history row per group (online_metrics).
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from graph_schema.clock import now_ms
from graph_schema.settings import LOG_ONLY_TYPES
from records.tables import CatalogueRecord, EventAttribution, EventRecord, OnlineMetricsRecord

CONVERSIONS = ("cart", "purchase")


def _popularity_rank(session: Any) -> dict[str, int]:
    ev = EventRecord.__table__
    rows = session.execute(
        select(ev.c.item_id, func.count())
        .where(ev.c.type.not_in(sorted(LOG_ONLY_TYPES)))
        .group_by(ev.c.item_id)
        .order_by(func.count().desc(), ev.c.item_id)
    ).all()
    return {item: n for n, (item, _) in enumerate(rows, start=1)}


def compute(sessions: sessionmaker, k: int = 10) -> list[dict[str, Any]]:
    """The metrics of every (model version, strategy) with attributed events, stored as history."""
    ev, at = EventRecord.__table__, EventAttribution.__table__
    with sessions() as session:
        rows = session.execute(
            select(
                at.c.model_version, at.c.strategy, at.c.rec_id, at.c.position, ev.c.type, ev.c.user_id, ev.c.item_id
            ).select_from(at.join(ev, ev.c.event_id == at.c.event_id))
        ).all()
        ranks = _popularity_rank(session)
        catalogue = dict(session.execute(select(CatalogueRecord.item_id, CatalogueRecord.interests)).all())
    n_items = len(catalogue) or len(ranks) or 1
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for row in rows:
        groups[(row.model_version or "", row.strategy or "")].append(row)
    out = []
    at_ms = now_ms()
    for (mv, strategy), members in sorted(groups.items()):
        types = Counter(r.type for r in members)
        shown = [r for r in members if r.type == "impression"]
        top_shown = sum(1 for r in shown if r.position is not None and r.position <= k)
        top_clicks = sum(1 for r in members if r.type == "click" and r.position is not None and r.position <= k)
        items = {r.item_id for r in shown}
        per_answer: dict[str, set[str]] = defaultdict(set)
        for r in shown:
            per_answer[r.rec_id].add(r.item_id)
        diversities = [_diversity(list(s), catalogue) for s in per_answer.values() if len(s) > 1]
        n = len(shown)
        values = {
            "impressions": n,
            "users": len({r.user_id for r in shown}),
            "answers": len(per_answer),
            "clicks": types["click"],
            "ctr": types["click"] / n if n else None,
            "k": k,
            "ctr_at_k": top_clicks / top_shown if top_shown else None,
            "conversion_rate": sum(types[t] for t in CONVERSIONS) / n if n else None,
            "coverage": len(items) / n_items,
            "novelty": sum(ranks.get(r.item_id, len(ranks) + 1) for r in shown) / n if n else None,
            "diversity": sum(diversities) / len(diversities) if diversities else None,
            "dislikes": types["dislike"] + types["not_interested"],
        }
        out.append({"model_version": mv or None, "strategy": strategy, **values})
    with sessions.begin() as session:
        session.add_all(
            OnlineMetricsRecord(
                computed_at=at_ms,
                model_version=o["model_version"] or "",
                strategy=o["strategy"],
                values={k_: v for k_, v in o.items() if k_ not in ("model_version", "strategy")},
            )
            for o in out
        )
    return [{"computed_at": at_ms, **o} for o in out]


def _diversity(items: list[str], catalogue: dict[str, list[str]]) -> float:
    pairs = list(itertools.combinations(items, 2))
    apart = sum(1 for a, b in pairs if not set(catalogue.get(a) or ()) & set(catalogue.get(b) or ()))
    return apart / len(pairs)


def history(sessions: sessionmaker, snapshots: int = 1) -> list[dict[str, Any]]:
    """The newest `snapshots` computations, newest first, each a list of groups."""
    with sessions() as session:
        times = list(
            session.scalars(
                select(OnlineMetricsRecord.computed_at)
                .distinct()
                .order_by(OnlineMetricsRecord.computed_at.desc())
                .limit(snapshots)
            )
        )
        if not times:
            return []
        rows = session.scalars(
            select(OnlineMetricsRecord)
            .where(OnlineMetricsRecord.computed_at.in_(times))
            .order_by(OnlineMetricsRecord.computed_at.desc(), OnlineMetricsRecord.id)
        ).all()
    by_time: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_time[r.computed_at].append({"model_version": r.model_version or None, "strategy": r.strategy, **r.values})
    return [{"computed_at": t, "groups": by_time[t]} for t in times]


__all__ = ["compute", "history"]
