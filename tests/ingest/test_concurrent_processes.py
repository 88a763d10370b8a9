"""Two ingest processes at once on one event log and one graph: overlapping streams (the
same event ids sent by both, as a client retrying against another worker would), with
their graph batches interleaving. Nothing is lost or counted twice, checked against
totals computed by hand. Runs on FalkorDB + SQLite and on Neo4j + PostgreSQL."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from graph_schema.rows import CatalogueItem
from graph_schema.settings import Settings
from graph_schema.store import GraphStore, open_store
from service.ingest.eventlog import EventLog
from service.ingest.graph_writer import GraphWriter
from service.ingest.schemas import EventIn, validate_each
from tests.processes import run_together

pytestmark = pytest.mark.stacks

WEIGHTS = {"view": 1.0, "click": 2.0, "cart": 4.0, "purchase": 8.0}


def stream(start: int, stop: int) -> list[dict[str, Any]]:
    types = list(WEIGHTS)
    return [
        {
            "event_id": f"e{n}",
            "user_id": f"u{n % 37}",
            "item_id": f"i{(n * 7) % 23}",
            "type": types[n % 4],
            "ts": 1_700_000_000_000 + n * 1000,
        }
        for n in range(start, stop)
    ]


def _ingest(settings_json: str, start: int, stop: int, go: Any, out: Any) -> None:
    settings = Settings.model_validate_json(settings_json)
    good, bad = validate_each(EventIn, stream(start, stop))
    assert not bad
    log = EventLog(settings)
    with open_store(settings) as store:
        go.wait(60)
        accepted, applied = GraphWriter(log).ingest(store, iter(good))
        # whatever another process left claimed or pending is applied by someone
        again = GraphWriter(log).apply_pending(store)
    out.put((accepted.accepted, accepted.duplicates, applied.error, again.error))


def test_two_ingest_processes_with_overlapping_streams_count_each_event_once(
    store: GraphStore, settings: Settings
) -> None:
    store.upsert_items([CatalogueItem(f"i{k}", None, (f"t{k % 5}",)) for k in range(23)])
    settings = settings.model_copy(update={"batch_size": 50})
    # 0..1199 and 800..1999: 400 events sent by both
    ranges = [(0, 1200), (800, 2000)]
    results, exitcodes = run_together(_ingest, [(settings.model_dump_json(), a, b) for a, b in ranges], 300)
    assert exitcodes == [0, 0]
    assert all(r[2] is None and r[3] is None for r in results), results
    # every id stored exactly once: accepted by one process, a duplicate to the other
    assert sum(r[0] for r in results) == 2000 and sum(r[1] for r in results) == 400
    assert EventLog(settings).pending_count() == 0

    # the graph, against totals by hand
    events = stream(0, 2000)
    per_pair = Counter((e["user_id"], e["item_id"]) for e in events)
    weight = Counter()
    for e in events:
        weight[(e["user_id"], e["item_id"])] += WEIGHTS[e["type"]]
    rows = store.read_only_query(
        "MATCH (u:User)-[r:INTERACTED]->(i:Item) RETURN u.id, i.id, r.count, r.weight", {}, 10_000, 10_000
    ).rows
    assert {(u, i): (c, w) for u, i, c, w in rows} == {k: (per_pair[k], weight[k]) for k in per_pair}
    batches = store.read_only_query("MATCH (b:IngestBatch) RETURN sum(b.rows) AS n", {}, 10_000, 10).rows
    assert batches == [[2000]]
