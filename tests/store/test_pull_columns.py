"""The paged full pull (GraphStore.pull_columns): many small pages give what one page
gives, and both give what the row pull (pull_subgraph) gives, on every engine."""

from __future__ import annotations

import random

import numpy as np
import pytest

from graph_schema.columns import GraphColumns
from graph_schema.rows import CatalogueItem, Interaction
from graph_schema.store import GraphStore

TAU = 1_000_000.0


def _graph(store: GraphStore) -> None:
    rng = random.Random(7)
    items = [f"i{k:02d}" for k in range(30)]
    store.upsert_items([CatalogueItem(i, interests=(f"x{k % 4}", f"y{k % 3}")) for k, i in enumerate(items)])
    events = []
    # 23 users (one has a quote in its id, one acts only before `since`); uneven degrees
    users = [f"u{k:02d}" for k in range(21)] + ['u"q', "u_old"]
    for k, u in enumerate(users):
        ts0 = 1_000 if u == "u_old" else 10_000
        for j in rng.sample(range(30), 1 + k % 7):
            events.append(Interaction(u, items[j], float(1 + j % 3), ts0 + 10 * j + k))
            if j % 2:
                events.append(Interaction(u, items[j], 1.0, ts0 + 500 + k))
    store.apply_interactions(events, TAU)
    store.upsert_users([{"user_id": "u_idle"}])  # a user without interactions: an empty page row
    vec = {i: [float(k), 0.5, -1.0 / 3] for k, i in enumerate(items[:25])}
    store.write_node_properties(
        "Item", [{"id": i, "props": {"embedding": v, "model_version": "v"}} for i, v in vec.items()]
    )
    store.write_node_properties("User", [{"id": u, "props": {"embedding": [1.0, 2.0, 3.0]}} for u in users[:9]])


def _as_sets(cols: GraphColumns) -> dict:
    inter = cols.interactions
    ev = cols.evidence
    return {
        "interactions": sorted(tuple(r.values()) for r in inter.rows()),
        "evidence": sorted(
            (
                ev.user_ids[ev.user[k]],
                ev.interest_ids[ev.interest[k]],
                round(float(ev.evidence[k]), 9),
                int(ev.evidence_ts[k]),
            )
            for k in range(len(ev))
        ),
        "tags": [tuple(r.values()) for r in cols.tags],
        "embeddings": {label: {i: tuple(v.tolist()) for i, v in t.items()} for label, t in cols.embeddings.items()},
    }


@pytest.mark.parametrize("since", [None, 5_000])
def test_many_small_pages_pull_what_one_page_and_the_row_pull_do(store: GraphStore, since: int | None) -> None:
    _graph(store)
    small = store.pull_columns(since_ts=since, page=2)
    whole = store.pull_columns(since_ts=since, page=100_000)
    assert _as_sets(small) == _as_sets(whole)

    rows = store.pull_subgraph(since_ts=since)
    got = _as_sets(small)
    assert got["interactions"] == sorted(
        (r["user_id"], r["item_id"], float(r["weight"]), int(r["count"]), int(r["first_ts"]), int(r["last_ts"]))
        for r in rows.interactions
    )
    users = {r["user_id"] for r in rows.interactions}
    assert ("u_old" in users) == (since is None)  # the since filter, counted by hand
    assert len(got["interactions"]) == len(rows.interactions) > 23
    assert got["evidence"] == sorted(
        (r["user_id"], r["interest_id"], round(float(r["evidence"]), 9), int(r["evidence_ts"])) for r in rows.evidence
    )
    assert len(got["evidence"]) > 23
    assert got["tags"] == [tuple(r.values()) for r in rows.tags]
    assert set(got["embeddings"]["Item"]) == {f"i{k:02d}" for k in range(25)}
    assert len(got["embeddings"]["User"]) == 9 and got["embeddings"]["Interest"] == {}
    for label, table in small.embeddings.items():
        for node_id, vec in table.items():
            assert vec.dtype == np.float32
            assert vec.tolist() == pytest.approx(rows.embeddings[label][node_id], rel=1e-6)


def test_falkordb_pulls_in_id_windows_that_each_seek_one_page(store: GraphStore) -> None:
    """FalkorDB answers a keyset page (`n.id > $after ORDER BY n.id LIMIT $page`) by sorting
    every node after $after, so a keyset pull of N nodes cost N^2 / page (minutes at 500k
    users). Its pull reads windows of internal node ids instead: each one `page` ids wide,
    together covering every node once, and no keyset page."""
    if store.backend != "falkordb":
        pytest.skip("FalkorDB's paging")
    _graph(store)
    store.delete_user("u03")  # a freed id inside the range
    calls: list[tuple[str, dict]] = []
    read = store._named_read

    def spy(name: str, /, **params):
        calls.append((name, params))
        return read(name, **params)

    store._named_read = spy  # type: ignore[method-assign]
    cols = store.pull_columns(page=4)
    store._named_read = read  # type: ignore[method-assign]
    names = {name for name, _ in calls}
    assert not names & {"pull_interactions_page", "pull_evidence_page", "pull_embeddings_user"}
    top = read("max_node_id")[0]["top"]
    for query in ("pull_interactions_window", "pull_evidence_window", "pull_embeddings_user_window"):
        windows = [(p["lo"], p["hi"]) for name, p in calls if name == query]
        assert all(hi - lo == 4 for lo, hi in windows)
        assert [lo for lo, _ in windows] == list(range(0, top + 1, 4))  # contiguous, past the last id
    assert "u03" not in cols.interactions.user_ids
    assert len(cols.interactions.user_ids) == 22  # 23 users with interactions, one deleted


def test_published_user_strengths_read_in_pages_are_the_users_the_run_wrote(store: GraphStore) -> None:
    """Every engine: the users of the version written since the run started, whatever the
    page (FalkorDB reads id windows, Neo4j keyset pages), each once."""
    _graph(store)
    users = [f"u{k:02d}" for k in range(21)]
    props = [
        {"id": u, "props": {"model_version": "v2" if k % 5 else "v1", "refreshed_at": 100 if k % 3 else 50,
                            "top_interests": [f"x{k % 4}", "y0"], "interest_strengths": [0.5 + k / 100, 0.25]}}
        for k, u in enumerate(users)
    ]  # fmt: skip
    store.write_node_properties("User", props)
    # by hand: version v2 (k % 5 != 0) written at or after 100 (k % 3 != 0)
    expected = {
        u: {f"x{k % 4}": pytest.approx(0.5 + k / 100), "y0": 0.25} for k, u in enumerate(users) if k % 5 and k % 3
    }
    assert len(expected) == 11
    for page in (1, 3, 5_000):
        got = list(store.published_user_strengths("v2", refreshed_since=100, page=page))
        assert len(got) == len(expected) and dict(got) == expected, page
