"""Event log: idempotent accept, nothing lost when the graph fails, exactly-once apply."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
from sqlalchemy import select

from graph_schema.rows import Interaction
from graph_schema.settings import Settings
from graph_schema.store import GraphStore, StoreUnavailable
from records.tables import EventRecord
from service.ingest import privacy
from service.ingest.eventlog import EventLog
from service.ingest.graph_writer import GraphWriter
from service.ingest.schemas import EventIn, validate_each

DAY = 86_400_000

# exactly-once ingest on FalkorDB + SQLite and on Neo4j + PostgreSQL
pytestmark = pytest.mark.stacks


def ev(event_id: str, user: str = "u1", item: str = "i1", type_: str = "view", ts: int = 1_000, **kw: Any) -> dict:
    return {"event_id": event_id, "user_id": user, "item_id": item, "type": type_, "ts": ts, **kw}


def accept(log: EventLog, raw: list[Any]):  # type: ignore[no-untyped-def]
    good, bad = validate_each(EventIn, raw)
    report = log.accept(good)
    report.rejected = bad + report.rejected
    return report


def interaction(store: GraphStore, user: str, item: str) -> dict[str, Any] | None:
    rows = [r for r in store.user_interactions(user) if r["item_id"] == item]
    return rows[0] if rows else None


def test_duplicates_in_one_batch_and_across_batches_count_once(store: GraphStore, event_log: EventLog) -> None:
    first = accept(event_log, [ev("a", ts=1000), ev("a", ts=1000), ev("b", ts=3000, type_="click")])
    assert (first.accepted, first.duplicates, first.rejected) == (2, 1, [])
    GraphWriter(event_log).apply_pending(store)
    again = accept(event_log, [ev("b", ts=3000, type_="click"), ev("a"), ev("c", ts=2000)])
    assert (again.accepted, again.duplicates) == (1, 2)
    GraphWriter(event_log).apply_pending(store)

    assert event_log.count() == 3
    edge = interaction(store, "u1", "i1")
    assert edge is not None
    # view 1 + click 2 + view 1, each event once
    assert edge["weight"] == pytest.approx(4.0)
    assert edge["count"] == 3
    assert (edge["first_ts"], edge["last_ts"]) == (1000, 3000)


def test_invalid_events_are_rejected_with_the_field_and_not_logged(event_log: EventLog) -> None:
    report = accept(
        event_log,
        [
            ev("ok"),
            ev("bad-ts", ts=-5),
            {"event_id": "no-user", "item_id": "i", "type": "view", "ts": 1},
            ev("bad-type", type_="teleport"),
            ev("rating-without-value", type_="rating"),
            "not an object",
            ev("bad-weight", weight=float("nan")),
        ],
    )
    assert report.accepted == 1
    errors = {r["index"]: r["error"] for r in report.rejected}
    assert set(errors) == {1, 2, 3, 4, 5, 6}
    assert errors[1].startswith("ts:")
    assert "user_id" in errors[2]
    assert "teleport" in errors[3] and "known:" in errors[3]
    assert errors[4].startswith("weight:")
    assert "JSON object" in errors[5]
    assert errors[6].startswith("weight:")
    with event_log.sessions() as s:
        assert s.scalars(select(EventRecord.event_id)).all() == ["ok"]


def test_iso_timestamps_are_accepted_as_epoch_ms(event_log: EventLog) -> None:
    report = accept(event_log, [ev("iso", ts="2024-01-01T00:00:00Z"), ev("naive", ts="2024-01-01T01:00:00")])
    assert report.accepted == 2
    with event_log.sessions() as s:
        ts = {e: t for e, t in s.execute(select(EventRecord.event_id, EventRecord.ts)).all()}
    assert ts == {"iso": 1_704_067_200_000, "naive": 1_704_070_800_000}


class FlakyStore:
    """The real store, with a fault injected into one call of apply_interactions:
    either before the write ("down") or after it succeeded ("lost reply")."""

    def __init__(self, store: GraphStore, fail_on_call: int, after_write: bool) -> None:
        self.store, self.fail_on_call, self.after_write, self.calls = store, fail_on_call, after_write, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def apply_prepared(self, batch: Any, new_batch: bool = False) -> bool:
        # the pipeline's write of a batch it encoded ahead: through the injection point
        return self.apply_interactions(batch.events, batch.tau_ms, batch_id=batch.batch_id, new_batch=new_batch)

    def apply_interactions(self, events: Any, tau_ms: float, batch_id: str | None = None, **kw: Any) -> bool:
        self.calls += 1
        if self.calls == self.fail_on_call:
            if self.after_write:
                self.store.apply_interactions(events, tau_ms, batch_id=batch_id, **kw)
            raise StoreUnavailable("injected failure")
        return self.store.apply_interactions(events, tau_ms, batch_id=batch_id, **kw)


@pytest.mark.parametrize("after_write", [False, True], ids=["graph-down", "reply-lost"])
def test_graph_failure_mid_stream_loses_nothing_and_retry_applies_once(
    store: GraphStore, settings: Settings, after_write: bool
) -> None:
    log = EventLog(settings.model_copy(update={"batch_size": 10}))
    raw = [ev(f"e{n}", user=f"u{n % 7}", item=f"i{n % 5}", ts=1000 + n) for n in range(50)]
    assert accept(log, raw).accepted == 50
    flaky = FlakyStore(store, fail_on_call=3, after_write=after_write)

    first = GraphWriter(log).apply_pending(flaky)  # type: ignore[arg-type]
    assert first.error and "injected" in first.error
    assert first.applied == 20 and first.failed == 10 and first.pending == 30

    second = GraphWriter(log).apply_pending(flaky)  # type: ignore[arg-type]
    assert second.error is None and second.pending == 0
    assert first.applied + second.applied == 50

    total = store.read_only_query(
        "MATCH (:User)-[r:INTERACTED]->(:Item) RETURN sum(r.count) AS n, sum(r.weight) AS w", {}, 5000, 10
    )
    assert total.rows == [[50, 50.0]]  # each view (weight 1) exactly once


def test_live_evidence_moves_with_each_event_and_new_interest_overtakes(store: GraphStore, event_log: EventLog) -> None:
    from graph_schema.rows import CatalogueItem

    store.upsert_items([CatalogueItem("old", "Old", ("jazz",)), CatalogueItem("new", "New", ("techno",))])
    t0 = 1_700_000_000_000
    # a long-standing interest: 10 purchases spread over a year, ending 90 days ago
    raw = [ev(f"o{n}", item="old", type_="purchase", ts=t0 - 90 * DAY - n * 30 * DAY) for n in range(10)]
    accept(event_log, raw)
    GraphWriter(event_log).apply_pending(store)
    evidence = {r["interest_id"]: r for r in store.user_interests("u1")}
    assert set(evidence) == {"jazz"}
    # a burst of recent clicks in a new interest
    accept(event_log, [ev(f"n{n}", item="new", type_="click", ts=t0 - n * 3_600_000) for n in range(6)])
    GraphWriter(event_log).apply_pending(store)
    evidence = {r["interest_id"]: r for r in store.user_interests("u1")}
    tau = settings_tau(event_log.settings)
    from graph_schema.decay import value_at

    now = t0
    jazz = value_at(evidence["jazz"]["evidence"], evidence["jazz"]["evidence_ts"], now, tau)
    techno = value_at(evidence["techno"]["evidence"], evidence["techno"]["evidence_ts"], now, tau)
    assert techno > jazz
    # and the numbers are the closed form sum_i w_i exp(-(now - t_i)/tau)
    expect_jazz = sum(8 * math.exp(-(90 + n * 30) * DAY / tau) for n in range(10))
    expect_techno = sum(2 * math.exp(-n * 3_600_000 / tau) for n in range(6))
    assert jazz == pytest.approx(expect_jazz, rel=1e-9)
    assert techno == pytest.approx(expect_techno, rel=1e-9)


def settings_tau(settings: Settings) -> float:
    return settings.evidence_tau_ms


def test_delete_user_removes_graph_and_log(store: GraphStore, event_log: EventLog) -> None:
    accept(event_log, [ev("x1", user="gone"), ev("x2", user="gone", item="i2"), ev("x3", user="stays")])
    GraphWriter(event_log).apply_pending(store)
    report = privacy.delete_user(event_log, store, "gone")
    assert report["events_removed"] == 2 and report["graph_user_removed"] is True
    assert report["graph_relationships_removed"] == 2
    assert not store.user_exists("gone") and store.user_exists("stays")
    assert event_log.count() == 1


def test_apply_interactions_same_batch_id_is_applied_once(store: GraphStore, settings: Settings) -> None:
    events = [Interaction("u", "i", 2.0, 10), Interaction("u", "i", 3.0, 20)]
    assert store.apply_interactions(events, settings.evidence_tau_ms, batch_id="b-1") is True
    assert store.apply_interactions(events, settings.evidence_tau_ms, batch_id="b-1") is False
    edge = interaction(store, "u", "i")
    assert edge is not None and edge["weight"] == 5.0 and edge["count"] == 2


class RefusingStore(FlakyStore):
    """The engine refuses (not: is unreachable for) batches holding a poison item."""

    def apply_interactions(self, events: Any, tau_ms: float, batch_id: str | None = None, **kw: Any) -> bool:
        from graph_schema.store import StoreError

        if any(e.item_id == "poison" for e in events):
            raise StoreError("FalkorDB refused a write: injected parse error")
        return self.store.apply_interactions(events, tau_ms, batch_id=batch_id, **kw)


def test_a_refused_batch_is_parked_as_failed_and_does_not_block_later_events(
    store: GraphStore, settings: Settings
) -> None:
    log = EventLog(settings.model_copy(update={"batch_size": 2}))
    accept(log, [ev("p1", item="poison"), ev("p2"), ev("ok1", ts=5), ev("ok2", ts=6)])
    refusing = RefusingStore(store, fail_on_call=0, after_write=False)
    report = GraphWriter(log).apply_pending(refusing)  # type: ignore[arg-type]
    assert report.failed == 2 and report.applied == 2 and report.pending == 0
    assert report.error and "refused" in report.error
    with log.sessions() as s:
        status = {e: st for e, st in s.execute(select(EventRecord.event_id, EventRecord.status)).all()}
    assert status == {"p1": "failed", "p2": "failed", "ok1": "applied", "ok2": "applied"}


@pytest.mark.parametrize(
    "bad",
    [{"user_id": "u\x01"}, {"item_id": "i\x00"}, {"event_id": "e\nx"}, {"user_id": "\ud800"}],
    ids=["ctl-user", "nul-item", "newline-id", "surrogate"],
)
def test_ids_with_control_characters_never_reach_the_graph(event_log: EventLog, bad: dict) -> None:
    report = accept(event_log, [{**ev("x"), **bad}])
    assert report.accepted == 0 and len(report.rejected) == 1


def test_accept_stores_the_weights_resolve_weight_gives_and_refuses_the_rest(settings: Settings) -> None:
    # accept() resolves the usual weights inline: it must agree with resolve_weight event by event
    log = EventLog(settings.model_copy(update={"event_weights": {"view": 1, "like": 3.5, "rating": 1.0}}))
    raw = [
        ev("view"),
        ev("like", type_="like"),
        ev("view-weighted", weight=0.25),
        ev("rated", type_="rating", weight=4.5),
        ev("unknown-weighted", type_="teleport", weight=2.0),
        ev("click", type_="click"),  # not in these settings
        ev("rating-without-value", type_="rating"),
        ev("unknown", type_="teleport"),
    ]
    good, _ = validate_each(EventIn, raw)
    expected: dict[str, float] = {}
    refused: dict[int, str] = {}
    for index, event in good:
        try:
            expected[event.event_id] = log.resolve_weight(event)
        except ValueError as exc:
            refused[index] = str(exc)
    assert len(expected) == 5 and len(refused) == 3
    report = log.accept(good)
    assert report.accepted == 5 and {r["index"]: r["error"] for r in report.rejected} == refused
    with log.sessions() as s:
        assert dict(s.execute(select(EventRecord.event_id, EventRecord.weight)).all()) == expected
    batch = log.take_owned()
    assert batch is not None
    assert sorted(e.weight for e in batch.events) == sorted(expected.values())


def test_users_since_names_each_user_with_events_received_since_once(event_log: EventLog) -> None:
    """What an incremental refresh re-fits: by receive time (not the events' own ts), each user once."""
    accept(event_log, [ev("old1", user="u1"), ev("old2", user="u2")])
    with event_log.sessions() as session:
        received = session.scalars(select(EventRecord.received_at)).all()
    since = max(received) + 1
    with event_log.sessions.begin() as session:  # the first events were received before `since`
        session.execute(EventRecord.__table__.update().values(received_at=since - 10))
    while int(time.time() * 1000) <= since:  # the next events are received after it
        time.sleep(0.001)
    accept(event_log, [ev("n1", user="u3", ts=5), ev("n2", user="u2"), ev("n3", user="u3", item="i2")])
    assert sorted(event_log.users_since(since)) == ["u2", "u3"]
    assert len(event_log.users_since(since)) == 2
    assert sorted(event_log.users_since(since - 10)) == ["u1", "u2", "u3"]
    assert event_log.users_since(since + 10**9) == []
