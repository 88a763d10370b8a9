"""POST /v1/events and POST /v1/items: per-record validation, idempotency, bad input."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph_schema.store import StoreUnavailable

from .conftest import NOW_MS, Keys, events_payload, load_graph, services_of


def _is_problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.data[:500])
    assert r.content_type == "application/problem+json"
    body = r.get_json(force=True)
    assert body["status"] == status and body["title"] and "Traceback" not in r.get_data(as_text=True)
    return body


def test_events_are_accepted_and_applied(client, keys: Keys):
    load_graph(client, keys)
    store = services_of(client).store()
    assert {r["item_id"] for r in store.user_interactions("alice")} == {"i1", "i2"}
    assert store.counts()["relationships"]["INTERACTED"] == sum(1 for _ in events_payload())


def test_events_are_idempotent_through_the_api(client, keys: Keys):
    load_graph(client, keys)
    store = services_of(client).store()
    before = {r["item_id"]: r for r in store.user_interactions("bob")}
    r = client.post("/v1/events", json={"events": events_payload()}, headers=keys.header("ingest"))
    assert r.status_code == 202
    body = r.get_json()
    assert body["accepted"] == 0 and body["duplicates"] == len(events_payload()) and body["rejected"] == []
    after = {r["item_id"]: r for r in store.user_interactions("bob")}
    assert after == before  # weights and counts unchanged


def test_duplicates_inside_one_batch_count_once(client, keys: Keys):
    ev = {"event_id": "dup-1", "user_id": "u", "item_id": "x", "type": "view", "ts": NOW_MS}
    r = client.post("/v1/events", json={"events": [ev, ev, ev]}, headers=keys.header("ingest"))
    assert r.status_code == 202
    assert r.get_json() == {"accepted": 1, "duplicates": 2, "rejected": [], "pending": 0}
    assert services_of(client).store().user_interactions("u")[0]["count"] == 1


def test_bad_events_are_rejected_one_by_one(client, keys: Keys):
    good = {"event_id": "g1", "user_id": "u1", "item_id": "x1", "type": "click", "ts": "2024-05-01T10:00:00Z"}
    events = [
        good,
        {"event_id": "b1", "user_id": "u1", "item_id": "x1", "type": "view", "ts": "yesterday"},
        {"event_id": "b2", "user_id": "", "item_id": "x1", "type": "view", "ts": 1},
        "not an object",
        {"event_id": "b3", "user_id": "u1", "item_id": "x1", "type": "teleport", "ts": NOW_MS},
        {"event_id": "b4", "user_id": "u1", "item_id": "x1", "type": "rating", "ts": NOW_MS},
        {"event_id": "b5", "user_id": "u1", "item_id": "x1", "type": "view", "ts": NOW_MS, "weight": -1},
        {"event_id": "b6", "user_id": "u1", "item_id": "x1", "type": "view", "ts": NOW_MS, "colour": "red"},
    ]
    r = client.post("/v1/events", json={"events": events}, headers=keys.header("ingest"))
    assert r.status_code == 202
    body = r.get_json()
    assert body["accepted"] == 1
    rejected = {x["index"]: x["error"] for x in body["rejected"]}
    assert sorted(rejected) == [1, 2, 3, 4, 5, 6, 7]
    assert rejected[1].startswith("ts:")
    assert rejected[2].startswith("user_id:")
    assert "JSON object" in rejected[3]
    assert "teleport" in rejected[4]
    assert "rating" in rejected[5]
    assert rejected[6].startswith("weight:")
    assert "colour" in rejected[7]


def test_graph_down_keeps_events_pending(app, client, keys: Keys):
    svc = services_of(client)

    def down() -> Any:
        raise StoreUnavailable("the embedded graph store is down (test)")

    svc.store_holder.get = down  # type: ignore[method-assign]
    ev = {"event_id": "p1", "user_id": "u", "item_id": "x", "type": "view", "ts": NOW_MS}
    r = client.post("/v1/events", json={"events": [ev]}, headers=keys.header("ingest"))
    assert r.status_code == 202
    assert r.get_json()["accepted"] == 1 and r.get_json()["pending"] == 1
    assert svc.eventlog.pending_count() == 1


def test_malformed_json_is_a_400_problem(client, keys: Keys):
    r = client.post("/v1/events", data='{"events": [', content_type="application/json", headers=keys.header("ingest"))
    body = _is_problem(r, 400)
    assert "not valid JSON" in body["detail"]


def test_non_json_body_is_a_415_problem(client, keys: Keys):
    r = client.post("/v1/events", data="events=1", content_type="text/plain", headers=keys.header("ingest"))
    _is_problem(r, 415)


def test_missing_body_and_wrong_envelope_are_problems(client, keys: Keys):
    _is_problem(client.post("/v1/events", headers=keys.header("ingest")), 400)
    body = _is_problem(client.post("/v1/events", json={"events": []}, headers=keys.header("ingest")), 422)
    assert body["errors"][0]["loc"] == "events"
    body = _is_problem(client.post("/v1/events", json={"events": "nope"}, headers=keys.header("ingest")), 422)
    assert "list" in body["detail"]
    _is_problem(client.post("/v1/events", json=[1, 2], headers=keys.header("ingest")), 422)
    _is_problem(client.post("/v1/events", json={"evnts": []}, headers=keys.header("ingest")), 422)


def test_oversize_body_is_a_413_problem(make_app):
    app = make_app(max_request_bytes=2048, auth_disabled=True)
    client = app.test_client()
    events = [{"event_id": f"e{n}", "user_id": "u", "item_id": "x", "type": "view", "ts": NOW_MS} for n in range(100)]
    body = _is_problem(client.post("/v1/events", json={"events": events}), 413)
    assert "2048" in body["detail"]


def test_too_many_events_in_one_batch_is_a_413_problem(make_app):
    app = make_app(max_batch_events=5, auth_disabled=True)
    events = [{"event_id": f"e{n}", "user_id": "u", "item_id": "x", "type": "view", "ts": NOW_MS} for n in range(6)]
    body = _is_problem(app.test_client().post("/v1/events", json={"events": events}), 413)
    assert "limit is 5" in body["detail"]


def test_items_upsert_and_report(client, keys: Keys):
    items = [
        {"item_id": "m1", "title": "First", "interests": ["tag:new", "tag:old"], "attributes": {"year": 1999}},
        {"item_id": "m2", "interests": []},
        {"item_id": "m1", "title": "First (director's cut)", "interests": ["tag:new"]},
        {"item_id": "", "title": "no id"},
        {"item_id": "m3", "interests": "tag:new"},
    ]
    r = client.post("/v1/items", json={"items": items}, headers=keys.header("ingest"))
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["accepted"] == 2 and body["duplicates"] == 1
    assert [x["index"] for x in body["rejected"]] == [3, 4]
    rows = (
        services_of(client)
        .store()
        .read_only_query("MATCH (i:Item {id: 'm1'})-[:TAGGED]->(t) RETURN i.title, collect(t.id)", {}, 1000, 10)
        .rows
    )
    assert rows == [["First (director's cut)", ["tag:new"]]]


def test_items_bad_input(client, keys: Keys):
    _is_problem(client.post("/v1/items", data="{", content_type="application/json", headers=keys.header("ingest")), 400)
    _is_problem(client.post("/v1/items", json={"items": []}, headers=keys.header("ingest")), 422)


_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
_event = st.fixed_dictionaries(
    {},
    optional={
        "event_id": st.one_of(st.text(max_size=30), _scalar),
        "user_id": st.one_of(st.text(max_size=30), _scalar),
        "item_id": st.one_of(st.text(max_size=30), _scalar),
        "type": st.one_of(st.sampled_from(["view", "click", "cart", "purchase", "rating", "x"]), _scalar),
        "ts": st.one_of(st.integers(min_value=-(2**63), max_value=2**63), st.text(max_size=30), _scalar),
        "weight": st.one_of(st.floats(allow_nan=True, allow_infinity=True), _scalar),
    },
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(st.one_of(_event, _scalar), min_size=1, max_size=8))
def test_arbitrary_events_never_fail_the_server(client, keys: Keys, events):
    r = client.post(
        "/v1/events",
        data=json.dumps({"events": events}),
        content_type="application/json",
        headers=keys.header("ingest"),
    )
    assert r.status_code == 202, r.data[:500]
    body = r.get_json()
    assert body["accepted"] + body["duplicates"] + len(body["rejected"]) == len(events)


def test_nul_characters_are_rejected_not_poisoning_the_log(client, keys: Keys):
    """A NUL inside a string cannot travel to FalkorDB; it would fail its batch forever."""
    events = [
        {"event_id": "n1", "user_id": "a\x00b", "item_id": "x", "type": "view", "ts": NOW_MS},
        {"event_id": "n2", "user_id": "ok", "item_id": "x", "type": "view", "ts": NOW_MS},
    ]
    r = client.post("/v1/events", json={"events": events}, headers=keys.header("ingest"))
    body = r.get_json()
    assert body["accepted"] == 1 and body["pending"] == 0
    assert body["rejected"] == [{"index": 0, "error": "user_id: must not contain control characters"}]
    r = client.post(
        "/v1/items", json={"items": [{"item_id": "x", "attributes": {"k": ["\x00"]}}]}, headers=keys.header("ingest")
    )
    assert r.get_json()["rejected"][0]["error"].startswith("attributes:")
    r = client.get("/v1/users/a%00b/recommendations", headers=keys.header("admin"))
    assert r.status_code == 422


def test_ids_with_control_characters_are_rejected(client, keys: Keys):
    """FalkorDB 4.16.3 crashes creating a constrained node whose id holds \\x01 (or edge whitespace)."""
    items = [
        {"item_id": "a\x01b"},
        {"item_id": "  padded  "},
        {"item_id": "\t"},
        {"item_id": "ok", "interests": ["g\x01"]},
    ]
    body = client.post("/v1/items", json={"items": items}, headers=keys.header("ingest")).get_json()
    assert body["accepted"] == 1  # "  padded  " is stripped to "padded"
    assert {r["index"] for r in body["rejected"]} == {0, 2, 3}
    store = services_of(client).store()
    store.ping()
    assert store.item_exists("padded")


def test_an_item_description_is_kept_for_the_text_encoder(client, keys: Keys):
    item = {"item_id": "d1", "title": "Blue Train", "description": "hard bop, 1957", "interests": []}
    r = client.post("/v1/items", json={"items": [item]}, headers=keys.header("ingest"))
    assert r.status_code == 200 and r.get_json()["accepted"] == 1, r.get_json()
    rows = services_of(client).store().read_only_query("MATCH (i:Item {id: 'd1'}) RETURN i.description", {}, 1000, 10)
    assert rows.rows == [["hard bop, 1957"]]
    bad = {"item_id": "d2", "description": "x" * 20_001}
    body = client.post("/v1/items", json={"items": [bad]}, headers=keys.header("ingest")).get_json()
    assert [x["index"] for x in body["rejected"]] == [0]
