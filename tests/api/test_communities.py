"""Interest communities: two planted communities recovered member by member, written
as versioned (:User)-[:MEMBER_OF]->(:Community), served by GET /v1/communities(/id) and
asked by the analyst catalogue; on a social graph built here through the API."""

from __future__ import annotations

import pytest

from graph_schema.cypher import QUERY_DIR
from training.communities import detect_and_write, stable_ids, user_graph

from .conftest import DAY_MS, NOW_MS, Keys, services_of

pytestmark = pytest.mark.stacks

# two planted groups: sci-fi fans who follow each other, drama fans who follow each other
SCIFI_FANS = [f"s{n}" for n in range(6)]
DRAMA_FANS = [f"d{n}" for n in range(6)]
ITEMS = {"sf1": "genre:scifi", "sf2": "genre:scifi", "sf3": "genre:scifi", "dr1": "genre:drama", "dr2": "genre:drama"}


def _ring_follows(group: list[str]) -> list[tuple[str, str]]:
    """Each member follows the next two (a dense ring)."""
    return [(a, group[(i + k) % len(group)]) for i, a in enumerate(group) for k in (1, 2)]


def build(client, keys: Keys) -> None:
    items = [{"item_id": i, "title": i, "interests": [t]} for i, t in ITEMS.items()]
    assert client.post("/v1/items", json={"items": items}, headers=keys.header("ingest")).status_code == 200
    events = []
    for group, mine in ((SCIFI_FANS, ["sf1", "sf2", "sf3"]), (DRAMA_FANS, ["dr1", "dr2"])):
        for u in group:
            for n, item in enumerate(mine):
                events.append(
                    {
                        "event_id": f"{u}-{item}",
                        "user_id": u,
                        "item_id": item,
                        "type": "view",
                        "ts": NOW_MS - n * DAY_MS,
                    }
                )
        for a, b in _ring_follows(group):
            events.append({"event_id": f"{a}>{b}", "user_id": a, "target_user_id": b, "type": "follow", "ts": NOW_MS})
    # one bridge: a sci-fi fan follows a drama fan
    events.append({"event_id": "bridge", "user_id": "s0", "target_user_id": "d0", "type": "follow", "ts": NOW_MS})
    r = client.post("/v1/events", json={"events": events}, headers=keys.header("ingest"))
    assert r.status_code == 202 and r.get_json()["rejected"] == [] and r.get_json()["pending"] == 0


def get(client, keys: Keys, url: str, status: int = 200) -> dict:
    r = client.get(url, headers=keys.header("read"))
    assert r.status_code == status, r.get_json()
    return r.get_json()


def analyst(client, name: str, **params) -> list[dict]:
    store = services_of(client).store()
    result = store.read_only_query((QUERY_DIR / "analyst" / f"{name}.cypher").read_text(), params, 10_000, 1000)
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def test_two_planted_communities_are_recovered(app, client, keys: Keys):
    build(client, keys)
    svc = services_of(client)
    assert get(client, keys, "/v1/communities") == {"model_version": None, "communities": []}
    counts = detect_and_write(svc.store(), svc.settings, "v1")
    assert counts["communities"] == 2 and counts["community_members"] == 12

    body = get(client, keys, "/v1/communities")
    assert body["model_version"] == "v1"
    sizes = sorted(c["size"] for c in body["communities"])
    assert sizes == [6, 6]
    top = {c["community_id"]: c["top_interests"][0]["interest_id"] for c in body["communities"]}
    scifi_id = next(cid for cid, interest in top.items() if interest == "genre:scifi")
    drama_id = next(cid for cid, interest in top.items() if interest == "genre:drama")
    store = svc.store()
    for u in SCIFI_FANS:
        assert store.community_of(u) == scifi_id, u
    for u in DRAMA_FANS:
        assert store.community_of(u) == drama_id, u
    # the graph holds exactly one MEMBER_OF per member, of this version
    rows = store.read_only_query(
        "MATCH (u:User)-[m:MEMBER_OF]->(c:Community) RETURN m.model_version AS v, c.id AS c, count(u) AS n",
        {},
        10_000,
        100,
    ).rows
    assert sorted(map(tuple, rows)) == sorted([("v1", scifi_id, 6), ("v1", drama_id, 6)])

    detail = get(client, keys, f"/v1/communities/{scifi_id}")
    assert detail["size"] == 6 and detail["top_interests"][0]["name"] == "genre:scifi"
    assert detail["top_interests"][0]["share"] == pytest.approx(1.0)
    assert [t["model_version"] for t in detail["trend"]] == ["v1"]
    get(client, keys, "/v1/communities/nope", status=404)

    # analyst catalogue
    mine = analyst(client, "user_community", user_id="s3")
    assert [r["community_id"] for r in mine] == [scifi_id] and mine[0]["size"] == 6
    members = analyst(client, "community_members", community_id=drama_id, limit=100)
    assert sorted(r["user_id"] for r in members) == DRAMA_FANS

    # a second version: two drama fans turn to sci-fi; ids stay, the trend grows, sci-fi rises
    events = [
        {"event_id": f"{u}-sf{n}-late", "user_id": u, "item_id": f"sf{n}", "type": "purchase", "ts": NOW_MS}
        for u in ("d1", "d2")
        for n in (1, 2, 3)
    ]
    assert client.post("/v1/events", json={"events": events}, headers=keys.header("ingest")).status_code == 202
    detect_and_write(store, svc.settings, "v2")
    body = get(client, keys, "/v1/communities")
    assert body["model_version"] == "v2"
    assert {c["community_id"] for c in body["communities"]} == {scifi_id, drama_id}
    trend = get(client, keys, f"/v1/communities/{drama_id}")["trend"]
    assert [t["model_version"] for t in trend] == ["v1", "v2"]
    assert trend[1]["shares"].get("genre:scifi", 0) > trend[0]["shares"].get("genre:scifi", 0)
    rising = analyst(client, "community_rising_interests", community_id=drama_id)
    assert rising[0]["interest_id"] == "genre:scifi" and rising[0]["change"] > 0
    assert rising[0]["version_now"] == "v2" and rising[0]["version_before"] == "v1"
    # only the published version's memberships stay
    rows = store.read_only_query("MATCH ()-[m:MEMBER_OF]->() RETURN DISTINCT m.model_version AS v", {}, 10_000, 10).rows
    assert [r[0] for r in rows] == ["v2"]
    # a privacy delete takes the user's membership with it
    assert client.delete("/v1/users/s3", headers=keys.header("admin")).status_code == 200
    assert analyst(client, "user_community", user_id="s3") == []


def test_user_graph_and_stable_ids():
    edges = user_graph([("a", "b", 1.0), ("b", "a", 1.0), ("a", "c", 0.5)], [], 0.5)
    assert edges == {("a", "b"): 2.0, ("a", "c"): 0.5}
    shared = user_graph([], [("a", "x", "X", 4.0), ("b", "x", "X", 1.0), ("b", "y", "Y", 2.0)], 0.5)
    assert shared == {("a", "b"): pytest.approx(0.5 * 1.0 * 0.5)}  # b's x is half of b's strongest
    ids = stable_ids([{"a", "b", "c"}, {"x", "y"}, {"q"}], {"c7": ["x", "y", "z"], "c2": ["a", "b"]})
    assert ids == ["c2", "c7", "c8"]
