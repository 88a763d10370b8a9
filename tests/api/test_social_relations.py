"""Relation events (follow, unfollow, friend, unfriend) through POST /v1/events: the
log, the last-writer-wins register, the FOLLOWS edges, privacy delete, JSON lines."""

from __future__ import annotations

import io
import itertools
import json

import pytest
from sqlalchemy import select

from records.tables import RelationEventRecord, RelationRecord
from service.ingest import relations
from service.ingest.jsonl import read_events

from .conftest import NOW_MS, Keys, services_of

pytestmark = pytest.mark.stacks


def send(client, keys: Keys, events: list[dict]) -> dict:
    r = client.post("/v1/events", json={"events": events}, headers=keys.header("ingest"))
    assert r.status_code == 202, r.get_json()
    return r.get_json()


def rel(event_id: str, user: str, target: str, kind: str, ts: int) -> dict:
    return {"event_id": event_id, "user_id": user, "target_user_id": target, "type": kind, "ts": ts}


def edges(client) -> set[tuple[str, str, str]]:
    """Every FOLLOWS edge in the graph, read by a plain query (not the role under test)."""
    store = services_of(client).store()
    rows = store.read_named("social_edges")
    return {(r["a"], r["b"], r["k"]) for r in rows}


def test_follow_writes_a_directed_edge_and_friend_writes_both(client, keys: Keys):
    body = send(
        client,
        keys,
        [rel("f1", "ann", "ben", "follow", NOW_MS), rel("f2", "ann", "cat", "friend", NOW_MS)],
    )
    assert body["accepted"] == 2 and body["rejected"] == [] and body["pending"] == 0
    assert edges(client) == {("ann", "ben", "follow"), ("ann", "cat", "friend"), ("cat", "ann", "friend")}
    store = services_of(client).store()
    assert [f.user_id for f in store.following("ann")] == ["ben", "cat"]
    assert [f.user_id for f in store.following("ben")] == []
    assert store.relation_counts() == {"follow": 1, "friend": 2}
    # resending is a no-op
    again = send(client, keys, [rel("f1", "ann", "ben", "follow", NOW_MS)])
    assert again["accepted"] == 0 and again["duplicates"] == 1


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_unfollow_wins_over_an_older_follow_whatever_the_arrival_order(client, keys: Keys, order):
    events = [
        rel("a", "ann", "ben", "follow", NOW_MS - 3000),
        rel("b", "ann", "ben", "unfollow", NOW_MS - 2000),
        rel("c", "ann", "ben", "follow", NOW_MS - 5000),  # late and old: must not bring the edge back
    ]
    for n in order:  # one request each: arrival order is the permutation
        send(client, keys, [events[n]])
    assert edges(client) == set()
    with services_of(client).eventlog.sessions() as s:
        reg = s.execute(select(RelationRecord)).scalars().one()
        assert (reg.active, reg.ts, reg.pending) == (0, NOW_MS - 2000, 0)
    # a newer follow does bring it back; an unfollow at the very same ts wins the tie
    send(client, keys, [rel("d", "ann", "ben", "follow", NOW_MS - 1000)])
    assert edges(client) == {("ann", "ben", "follow")}
    send(client, keys, [rel("e", "ann", "ben", "follow", NOW_MS), rel("f", "ann", "ben", "unfollow", NOW_MS)])
    assert edges(client) == set()


def test_unfriend_removes_both_directions_and_leaves_follows(client, keys: Keys):
    send(client, keys, [rel("1", "ann", "ben", "friend", NOW_MS - 10), rel("2", "ben", "ann", "follow", NOW_MS - 10)])
    send(client, keys, [rel("3", "ben", "ann", "unfriend", NOW_MS)])
    assert edges(client) == {("ben", "ann", "follow")}


def test_bad_relation_events_are_refused_by_index_next_to_item_events(loaded, client, keys: Keys):
    body = send(
        client,
        keys,
        [
            {"event_id": "v1", "user_id": "zed", "item_id": "i1", "type": "view", "ts": NOW_MS},
            rel("r1", "zed", "zed", "follow", NOW_MS),
            rel("r2", "zed", "alice", "poke", NOW_MS),
            rel("r3", "zed", "alice", "follow", NOW_MS),
        ],
    )
    assert body["accepted"] == 2
    assert [r["index"] for r in body["rejected"]] == [1, 2]
    assert "themselves" in body["rejected"][0]["error"] and "poke" in body["rejected"][1]["error"]
    assert edges(client) == {("zed", "alice", "follow")}
    assert [i["item_id"] for i in services_of(client).store().user_interactions("zed")] == ["i1"]


def test_privacy_delete_removes_relations_in_both_directions(client, keys: Keys):
    send(
        client,
        keys,
        [
            rel("1", "ann", "ben", "follow", NOW_MS),
            rel("2", "cat", "ann", "follow", NOW_MS),
            rel("3", "ann", "dan", "friend", NOW_MS),
            rel("4", "cat", "ben", "follow", NOW_MS),
        ],
    )
    r = client.delete("/v1/users/ann", headers=keys.header("admin"))
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["relation_events_removed"] == 3
    assert edges(client) == {("cat", "ben", "follow")}
    with services_of(client).eventlog.sessions() as s:
        assert {(x.user_id, x.target_user_id) for x in s.execute(select(RelationRecord)).scalars()} == {("cat", "ben")}
        assert [e.event_id for e in s.execute(select(RelationEventRecord)).scalars()] == ["4"]


def test_relations_written_while_the_graph_was_down_stay_pending_then_apply(client, keys: Keys):
    svc = services_of(client)
    rep = relations.accept(svc.eventlog.sessions, [(0, _model(rel("p1", "ann", "ben", "follow", NOW_MS)))])
    assert rep.accepted == 1 and relations.pending_count(svc.eventlog.sessions) == 1
    assert edges(client) == set()
    done = relations.apply_pending(svc.eventlog.sessions, svc.store())
    assert (done.written, done.pending) == (1, 0)
    assert edges(client) == {("ann", "ben", "follow")}


def test_json_lines_files_carry_relation_events(client, keys: Keys):
    lines = [
        json.dumps({"event_id": "x1", "user_id": "ann", "item_id": "i1", "type": "view", "ts": NOW_MS}),
        json.dumps(rel("x2", "ann", "ben", "follow", NOW_MS)),
        json.dumps(rel("x3", "ann", "ben", "sneeze", NOW_MS)),
        json.dumps(rel("x4", "ben", "ann", "friend", NOW_MS)),
    ]
    rejected: list[dict] = []
    social: list = []
    events = list(read_events(io.StringIO("\n".join(lines)), rejected, social))
    assert [n for n, _ in events] == [1]
    assert [n for n, _ in social] == [2, 4]
    assert [r["line"] for r in rejected] == [3]
    svc = services_of(client)
    relations.accept(svc.eventlog.sessions, social)
    relations.apply_pending(svc.eventlog.sessions, svc.store())
    assert edges(client) == {("ann", "ben", "follow"), ("ben", "ann", "friend"), ("ann", "ben", "friend")}


def _model(raw: dict):
    from service.ingest.schemas import RelationIn

    return RelationIn.model_validate(raw)
