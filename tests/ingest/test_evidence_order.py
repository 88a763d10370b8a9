"""Live interest evidence does not depend on the order or batching of events."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from graph_schema.decay import fold_many
from graph_schema.rows import CatalogueItem
from graph_schema.store import open_store
from service.ingest.eventlog import EventLog
from service.ingest.graph_writer import GraphWriter
from service.ingest.schemas import EventIn
from tests.ingest.conftest import make_settings

DAY = 86_400_000
# two interests: "a" via items a1, a2 and "b" via item b1; item ab is in both
ITEMS = {"a1": ("a",), "a2": ("a",), "b1": ("b",), "ab": ("a", "b")}
WEIGHTS = {"view": 1.0, "click": 2.0, "purchase": 8.0}

event_st = st.tuples(st.sampled_from(sorted(ITEMS)), st.sampled_from(sorted(WEIGHTS)), st.integers(0, 400 * DAY))


@hsettings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    events=st.lists(event_st, min_size=1, max_size=25),
    data=st.data(),
)
def test_evidence_is_order_and_batch_independent(
    events: list[tuple[str, str, int]], data: st.DataObject, ingest_data_dir: Path, tmp_path: Path
) -> None:
    order = data.draw(st.permutations(range(len(events))), label="order")
    batch = data.draw(st.integers(1, 8), label="batch size")
    results = []
    for sequence, batch_size in ((list(range(len(events))), 1000), (order, batch)):
        settings = make_settings(ingest_data_dir, tmp_path, batch_size=batch_size)
        log = EventLog(settings)
        with open_store(settings) as store:
            store.migrate()
            store.upsert_items([CatalogueItem(i, None, tags) for i, tags in ITEMS.items()])
            for n in sequence:  # one accept per event: arrival order matters for the log ids
                item, kind, ts = events[n]
                log.accept([(0, EventIn(event_id=f"e{n}", user_id="u", item_id=item, type=kind, ts=ts))])
            GraphWriter(log).apply_pending(store)
            results.append({r["interest_id"]: (r["evidence"], r["evidence_ts"]) for r in store.user_interests("u")})
    in_order, shuffled = results
    assert in_order.keys() == shuffled.keys()
    tau = make_settings(ingest_data_dir, tmp_path).evidence_tau_ms
    for interest, (evidence, ts) in in_order.items():
        other_evidence, other_ts = shuffled[interest]
        assert ts == other_ts
        assert abs(evidence - other_evidence) <= 1e-9 * max(abs(evidence), 1e-300)
        # equals the closed form over the events touching this interest
        terms = [(WEIGHTS[k], t) for item, k, t in events if interest in ITEMS[item]]
        expected, expected_ts = fold_many(terms, tau)
        assert ts == expected_ts
        assert abs(evidence - expected) <= 1e-9 * expected
