"""The throughput paths: accept() claiming its first batch, the pipelined
apply_pending, GraphWriter.ingest for long streams, and the FalkorDB parameter
encoder. Same guarantees as the plain path: nothing accepted is lost, each
event reaches the graph exactly once."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from sqlalchemy import select

from graph_schema.rows import CatalogueItem, Interaction
from graph_schema.settings import Settings
from graph_schema.store import GraphStore, StoreUnavailable, open_store
from graph_schema.store.falkor_params import cypher_literal
from records.tables import EventRecord
from service.ingest import privacy
from service.ingest.eventlog import EventLog
from service.ingest.graph_writer import GraphWriter
from service.ingest.schemas import EventIn, validate_each
from tests.ingest.test_eventlog import FlakyStore, ev

# exactly-once ingest on FalkorDB + SQLite and on Neo4j + PostgreSQL
pytestmark = pytest.mark.stacks


def events(raw: list[dict[str, Any]]) -> list[tuple[int, EventIn]]:
    good, bad = validate_each(EventIn, raw)
    assert not bad
    return good


def graph_totals(store: GraphStore) -> list[Any]:
    res = store.read_only_query(
        "MATCH (:User)-[r:INTERACTED]->(:Item) RETURN sum(r.count) AS n, sum(r.weight) AS w", {}, 5000, 10
    )
    return res.rows[0]


def evidence(store: GraphStore, user: str) -> dict[str, tuple[float, int]]:
    return {r["interest_id"]: (r["evidence"], r["evidence_ts"]) for r in store.user_interests(user)}


def test_accept_claims_its_first_batch_and_apply_pending_uses_it(store: GraphStore, settings: Settings) -> None:
    log = EventLog(settings.model_copy(update={"batch_size": 4}))
    report = log.accept(events([ev(f"e{n}", user=f"u{n % 3}", ts=1000 + n) for n in range(10)]))
    assert report.accepted == 10 and sorted(report.accepted_ids) == sorted(f"e{n}" for n in range(10))
    with log.sessions() as s:
        claimed = s.execute(select(EventRecord.event_id).where(EventRecord.batch_id.is_not(None))).scalars().all()
    assert len(claimed) == 4  # one batch claimed at insert time, the rest left to claim
    applied = GraphWriter(log).apply_pending(store)
    assert (applied.applied, applied.batches, applied.pending, applied.error) == (10, 3, 0, None)
    assert graph_totals(store) == [10, 10.0]


def test_many_small_accepts_are_each_applied_once(store: GraphStore, settings: Settings) -> None:
    # each keeps the batch id accept() claimed it under: re-stamping claims to merge them
    # could race with another worker's takeover of a stale claim (then applied twice)
    log = EventLog(settings.model_copy(update={"batch_size": 100}))
    for n in range(6):
        log.accept(events([ev(f"s{n}", ts=1000 + n)]))
    report = GraphWriter(log).apply_pending(store)
    assert (report.applied, report.batches, report.pending) == (6, 6, 0)
    assert graph_totals(store) == [6, 6.0]


def test_ingest_applies_a_stream_like_accept_then_apply(store: GraphStore, settings: Settings) -> None:
    store.upsert_items([CatalogueItem("i1", None, ("a",)), CatalogueItem("i2", None, ("a", "b"))])
    raw = [ev(f"e{n}", user=f"u{n % 4}", item=f"i{1 + n % 2}", ts=1000 + 7 * n) for n in range(37)]
    raw += [ev("e3"), ev("bad", type_="teleport")]  # a duplicate and an unknown type
    log = EventLog(settings.model_copy(update={"batch_size": 5}))
    accepted, applied = GraphWriter(log).ingest(store, iter(events(raw)))
    assert (accepted.accepted, accepted.duplicates, len(accepted.rejected)) == (37, 1, 1)
    assert (applied.applied, applied.pending, applied.error) == (37, 0, None)
    assert graph_totals(store) == [37, 37.0]

    # the same events as one batch give the same evidence
    # (the reference graph is always an embedded one: Neo4j Community has one database)
    ref_settings = settings.model_copy(update={"graph_uri": None, "graph_name": f"ref_{uuid.uuid4().hex[:12]}"})
    with open_store(ref_settings) as ref:
        ref.migrate()
        ref.upsert_items([CatalogueItem("i1", None, ("a",)), CatalogueItem("i2", None, ("a", "b"))])
        one_batch = [Interaction(f"u{n % 4}", f"i{1 + n % 2}", 1.0, 1000 + 7 * n) for n in range(37)]
        ref.apply_interactions(one_batch, settings.evidence_tau_ms)
        for n in range(4):
            got, want = evidence(store, f"u{n}"), evidence(ref, f"u{n}")
            assert got.keys() == want.keys() and want
            for interest, (value, ts) in want.items():
                assert got[interest][1] == ts
                assert got[interest][0] == pytest.approx(value, rel=1e-9)
        ref.wipe()


@pytest.mark.parametrize("after_write", [False, True], ids=["graph-down", "reply-lost"])
def test_ingest_with_the_graph_failing_keeps_the_rest_pending(
    store: GraphStore, settings: Settings, after_write: bool
) -> None:
    log = EventLog(settings.model_copy(update={"batch_size": 10}))
    raw = [ev(f"e{n}", user=f"u{n % 7}", item=f"i{n % 5}", ts=1000 + n) for n in range(60)]
    flaky = FlakyStore(store, fail_on_call=2, after_write=after_write)
    accepted, applied = GraphWriter(log).ingest(flaky, iter(events(raw)))  # type: ignore[arg-type]
    assert accepted.accepted == 60  # every event is in the log
    assert applied.error and "injected" in applied.error
    assert applied.applied == 10 and applied.failed == 10 and applied.pending == 50
    # the failed batch and those claimed behind it (the one queued for the writer, and
    # the one being encoded when it failed, if either was claimed before the failure
    # came back): all flagged for any worker
    with log.sessions() as s:
        rows = s.execute(
            select(EventRecord.batch_id, EventRecord.failed_at).where(EventRecord.status == "pending")
        ).all()
    claimed = {b for b, _ in rows if b is not None}
    assert 1 <= len(claimed) <= 3 and all(f is not None for b, f in rows if b is not None)

    again = GraphWriter(log).apply_pending(flaky)  # type: ignore[arg-type]
    assert again.error is None and again.pending == 0 and applied.applied + again.applied == 60
    assert graph_totals(store) == [60, 60.0]


def test_a_failed_apply_hands_the_accepted_batch_back(store: GraphStore, settings: Settings) -> None:
    log = EventLog(settings)

    class Down(FlakyStore):
        def apply_interactions(self, *a: Any, **kw: Any) -> bool:
            raise StoreUnavailable("down")

    log.accept(events([ev("a1")]))
    log.accept(events([ev("a2", ts=2000)]))
    report = GraphWriter(log).apply_pending(Down(store, 0, False))  # type: ignore[arg-type]
    assert report.error == "down" and report.pending == 2
    with log.sessions() as s:  # both keep their batch ids, flagged for a retry
        rows = s.execute(select(EventRecord.batch_id, EventRecord.failed_at)).all()
    assert len({b for b, _ in rows}) == 2 and all(b is not None and f is not None for b, f in rows)
    other = EventLog(settings)  # another worker applies them at once (failed batch: retried first)
    assert GraphWriter(other).apply_pending(store).applied == 2
    assert graph_totals(store) == [2, 2.0]


def test_delete_user_drops_the_users_events_held_for_the_graph(store: GraphStore, event_log: EventLog) -> None:
    event_log.accept(events([ev("g1", user="gone"), ev("k1", user="kept")]))
    privacy.delete_user(event_log, store, "gone")
    GraphWriter(event_log).apply_pending(store)
    assert not store.user_exists("gone") and store.user_exists("kept")


def test_a_delete_during_the_graph_write_is_not_undone(store: GraphStore, event_log: EventLog) -> None:
    # the batch holding x's events is already on its way to the graph when x is deleted
    event_log.accept(events([ev("x1", user="x"), ev("y1", user="y")]))

    class DeleteMidWrite(FlakyStore):
        def apply_interactions(self, *a: Any, **kw: Any) -> bool:
            privacy.delete_user(event_log, store, "x")  # the graph delete runs before this write
            return store.apply_interactions(*a, **kw)  # ... which re-creates x

    report = GraphWriter(event_log).apply_pending(DeleteMidWrite(store, 0, False))  # type: ignore[arg-type]
    assert report.error is None and report.pending == 0
    assert not store.user_exists("x") and store.user_exists("y")
    with event_log.sessions() as s:
        assert s.execute(select(EventRecord.event_id)).scalars().all() == ["y1"]


def test_a_batch_given_up_keeps_its_id_so_a_takeover_cannot_double_apply(store: GraphStore, settings: Settings) -> None:
    # worker A claims a batch; worker B takes it over (as if A's claim had gone stale)
    # and writes it; A then gives it up: the rows keep the id, so the retry is a no-op
    a, b = EventLog(settings), EventLog(settings)
    a.accept(events([ev("t1"), ev("t2", ts=2000)]))
    batch = a.take_owned()
    assert batch is not None
    GraphWriter(b).write(store, batch)  # B writes it under the same id...
    a.give_up([batch])  # ...and A gives it up before B marks it
    assert GraphWriter(b).apply_pending(store).pending == 0
    assert graph_totals(store) == [2, 2.0]


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}], '[{a:1,b:"x"},{a:2,b:"y"}]'),
        ({"a": 1, "b": [1, {"c": 2}]}, "{a:1,b:[1,{c:2}]}"),  # a map inside a list is found
        ([{"a": 'x":y'}], '[{a:"x\\":y"}]'),  # `":` inside a string is not a key
        ([{"a": {"b": 1}}], "[{a:{b:1}}]"),
        ([["u", [["i", 1.5, 2]]]], '[["u",[["i",1.5,2]]]]'),
        ({"a b": 1}, "{`a b`:1}"),  # not an identifier: the client's serialiser
    ],
)
def test_cypher_literals(value: Any, literal: str) -> None:
    assert cypher_literal(value) == literal


def test_cypher_literals_refuse_nan_and_keep_what_orjson_cannot_write() -> None:
    with pytest.raises(ValueError):
        cypher_literal([1.0, float("nan")])
    with pytest.raises(ValueError):
        cypher_literal({"w": float("inf")})
    assert cypher_literal([2**70, 1]) == "[1180591620717411303424,1]"
    assert cypher_literal({"a": None, "b": "null"}) == '{a:null,b:"null"}'


_KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True)
# printable text (quotes, colons and backslashes included; a control character is the
# client serialiser's case); floats with few digits (FalkorDB replies with 15 significant ones)
_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from('":\\{},'), max_size=8)
_SCALARS = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | _TEXT
_SCALARS |= st.integers(-(10**6), 10**6).map(lambda n: n / 64)


@examples(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.dictionaries(_KEYS, _SCALARS, max_size=4), max_size=6)
    | st.lists(st.dictionaries(_KEYS, _SCALARS | st.dictionaries(_KEYS, _SCALARS, max_size=2), max_size=3), max_size=4)
)
def test_rows_of_maps_round_trip_through_the_engine(store: GraphStore, rows: list[dict[str, Any]]) -> None:
    """Whichever way the encoder unquotes the keys (flat rows, nested maps, strings holding
    quotes, colons and backslashes), the engine reads back the rows it was given."""
    assert store.read_only_query("RETURN $rows AS rows", {"rows": rows}, 5000, 10).rows == [[rows]]


def test_number_literals_round_trip_through_the_engine(store: GraphStore) -> None:
    values = [1.5e-7, 1e16, -0.0, 0.1, 1.23456e-30, 2**62, -(2**63)]
    rows = store.read_only_query("RETURN $v AS v", {"v": values}, 5000, 10).rows
    assert rows == [[values]]


def test_an_interrupt_mid_stream_neither_hangs_nor_loses_or_doubles_events(
    store: GraphStore, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = EventLog(settings.model_copy(update={"batch_size": 10}))
    log.accept(events([ev(f"k{n}", user=f"u{n % 7}", item=f"i{n % 5}", ts=1000 + n) for n in range(60)]))
    prepared = 0
    original = GraphWriter.prepare

    def interrupted(self: GraphWriter, store_: GraphStore, batch: Any) -> Any:
        nonlocal prepared
        prepared += 1
        if prepared == 3:  # Ctrl-C while batches 1 and 2 are with the writer
            raise KeyboardInterrupt
        return original(self, store_, batch)

    monkeypatch.setattr(GraphWriter, "prepare", interrupted)
    with pytest.raises(KeyboardInterrupt):
        GraphWriter(log).apply_pending(store)
    monkeypatch.setattr(GraphWriter, "prepare", original)
    with log.sessions() as s:  # nothing claimed is left unflagged for another worker
        claimed = s.execute(
            select(EventRecord.batch_id, EventRecord.failed_at).where(
                EventRecord.status == "pending", EventRecord.batch_id.is_not(None)
            )
        ).all()
    assert all(f is not None for _, f in claimed)
    after = GraphWriter(log).apply_pending(store)
    assert after.error is None and after.pending == 0
    assert graph_totals(store) == [60, 60.0]


def test_log_only_events_are_logged_never_graph_edges_and_replay_reads_past_them(
    store: GraphStore, settings: Settings
) -> None:
    # a first log page (batch_size 5) of impressions only, then views and negative feedback
    raw = [ev(f"imp{n}", user="u1", item=f"i{n % 3}", type_="impression", ts=1000 + n) for n in range(12)]
    raw += [ev(f"v{n}", user=f"u{n % 2}", item="i1", ts=2000 + n) for n in range(7)]
    raw += [ev("d1", user="u1", item="i2", type_="dislike"), ev("n1", user="u0", item="i2", type_="not_interested")]
    raw += [ev(f"imp{n}", type_="impression") for n in range(3)]  # duplicates
    log = EventLog(settings.model_copy(update={"batch_size": 5}))
    accepted, applied = GraphWriter(log).ingest(store, iter(events(raw)))
    assert (accepted.accepted, accepted.duplicates) == (21, 3)
    assert (applied.applied, applied.pending, applied.error) == (7, 0, None)
    assert graph_totals(store) == [7, 7.0]  # only the views: no edge for impressions or dislikes
    assert log.count() == 21 and log.pending_count() == 0
    assert log.negative_terms("u1") == [("i2", 4.0, 1000, [])]

    from service.ingest.replay import replay

    ref_settings = settings.model_copy(
        update={"graph_uri": None, "graph_name": f"ref_{uuid.uuid4().hex[:12]}", "batch_size": 5}
    )
    with open_store(ref_settings) as ref:
        ref.migrate()
        try:
            assert replay(EventLog(ref_settings, log.sessions), ref) == 7
            assert graph_totals(ref) == [7, 7.0]
        finally:
            ref.wipe()
