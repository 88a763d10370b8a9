"""Closing the loop through the real API on the real stores: a simulated population
(users with hidden liked interests click on what they like when it is shown) drives
an experiment, negative feedback and online metrics (issue 16)."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from service.loop.stats import compare
from tests.api.conftest import DAY_MS, NOW_MS, Keys, experiment_with_every_arm, services_of

pytestmark = pytest.mark.stacks

GENRES = ["scifi", "drama", "comedy", "horror"]
CATALOGUE = {f"{g}-{n}": g for g in GENRES for n in range(10)}
P_LIKED, P_OTHER = 0.7, 0.05  # click probability of a liked / another item when shown


class Population:
    """Users with a hidden liked genre; each has clicked 3 liked items in the past."""

    def __init__(self, client: Any, keys: Keys, n_users: int, seed: int = 7) -> None:
        self.client, self.keys = client, keys
        self.rng = random.Random(seed)
        self.likes = {f"u{n}": GENRES[n % len(GENRES)] for n in range(n_users)}
        self.n_events = 0
        items = [{"item_id": i, "title": i, "interests": [f"genre:{g}"]} for i, g in CATALOGUE.items()]
        assert client.post("/v1/items", json={"items": items}, headers=keys.header("ingest")).status_code == 200
        history = []
        for user, genre in self.likes.items():
            for n in self.rng.sample(range(10), 3):
                history.append(self.event(user, f"{genre}-{n}", "click", ts=NOW_MS - 2 * DAY_MS))
        if history:
            self.send(history)

    def event(self, user: str, item: str, type_: str, ts: int = NOW_MS, **extra: Any) -> dict[str, Any]:
        self.n_events += 1
        return {"event_id": f"e{self.n_events}", "user_id": user, "item_id": item, "type": type_, "ts": ts, **extra}

    def send(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        r = self.client.post("/v1/events", json={"events": events}, headers=self.keys.header("ingest"))
        assert r.status_code == 202, r.get_json()
        body = r.get_json()
        assert body["rejected"] == [], body
        return body

    def recs(self, user: str, query: str = "k=5") -> dict[str, Any]:
        r = self.client.get(f"/v1/users/{user}/recommendations?{query}", headers=self.keys.header("read"))
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    def visit(self, user: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Ask for recommendations, report every impression, click the liked ones (sometimes others)."""
        answer = self.recs(user)
        events = []
        for item in answer["items"]:
            where = {"rec_id": answer["rec_id"], "position": item["position"]}
            events.append(self.event(user, item["item_id"], "impression", **where))
            liked = CATALOGUE.get(item["item_id"]) == self.likes[user]
            if self.rng.random() < (P_LIKED if liked else P_OTHER):
                events.append(self.event(user, item["item_id"], "click", **where))
        self.send(events)
        return answer, events


def test_the_preference_aware_arm_beats_random_in_the_experiment_report(client, keys: Keys):
    pop = Population(client, keys, n_users=80)
    r = client.post(
        "/v1/experiments",
        json={
            "name": "interest vs random",
            "arms": [{"name": "random", "strategy": "random"}, {"name": "interest", "strategy": "interest"}],
            "holdout": 0.1,
        },
        headers=keys.header("admin"),
    )
    assert r.status_code == 201, r.get_json()
    exp_id = r.get_json()["experiment_id"]
    arms: dict[str, str] = {}
    sent: dict[str, list[dict[str, Any]]] = {}
    for _ in range(3):
        for user in pop.likes:
            answer, events = pop.visit(user)
            assert answer["experiment"]["experiment_id"] == exp_id
            arm = answer["experiment"]["arm"]
            assert arms.setdefault(user, arm) == arm  # a user stays in the same arm
            sent.setdefault(arm, []).extend(events)
    assert set(arms.values()) == {"random", "interest", "(holdout)"}

    report = client.get(f"/v1/experiments/{exp_id}", headers=keys.header("analyst"))
    assert report.status_code == 200, report.get_json()
    results = {a["arm"]: a for a in report.get_json()["results"]}
    print({a: (r["impressions"], r["clicks"], r["ctr"], r.get("vs_control")) for a, r in results.items()})
    for arm, events in sent.items():  # the report counts exactly what was sent under each arm
        assert results[arm]["impressions"] == sum(e["type"] == "impression" for e in events)
        assert results[arm]["clicks"] == sum(e["type"] == "click" for e in events)
    interest, rnd = results["interest"], results["random"]
    assert interest["ctr"] > rnd["ctr"] + 0.2
    verdict = interest["vs_control"]
    assert verdict["verdict"] == "better"
    assert 0 < verdict["ci95"][0] < verdict["ctr_difference"] < verdict["ci95"][1]
    assert verdict["p_value"] < 0.001

    # resending a visit's events changes nothing (idempotent log)
    again = pop.send(sent["interest"][:5])
    assert again["accepted"] == 0 and again["duplicates"] == 5
    after = {
        a["arm"]: a
        for a in client.get(f"/v1/experiments/{exp_id}", headers=keys.header("analyst")).get_json()["results"]
    }
    assert after["interest"]["impressions"] == interest["impressions"]

    # stopped: the requested strategy again, no arm in the answer
    assert client.post(f"/v1/experiments/{exp_id}/stop", headers=keys.header("admin")).status_code == 200
    services_of(client).experiments.forget()
    assert pop.recs("u1").get("experiment") is None


def test_a_small_sample_is_too_small_to_tell(client, keys: Keys):
    pop = Population(client, keys, n_users=8)
    exp = client.post(
        "/v1/experiments",
        json={"name": "tiny", "arms": [{"name": "a", "strategy": "random"}, {"name": "b", "strategy": "interest"}]},
        headers=keys.header("admin"),
    ).get_json()
    for user in pop.likes:
        pop.visit(user)
    results = client.get(f"/v1/experiments/{exp['experiment_id']}", headers=keys.header("analyst")).get_json()
    assert results["results"][1]["vs_control"]["verdict"] == "too small to tell"
    assert client.get("/v1/experiments/nope", headers=keys.header("analyst")).status_code == 404
    assert client.post("/v1/experiments", json=exp | {"arms": []}, headers=keys.header("admin")).status_code == 422


def test_disliked_items_are_never_shown_again_and_impressions_are_no_graph_edges(client, keys: Keys):
    pop = Population(client, keys, n_users=4)
    store = services_of(client).store()
    seen_before = store.profile("u0", 50, 1000).seen if store.profile("u0", 50, 1000) else set()
    answer = pop.recs("u0", "k=10")
    shown = [i["item_id"] for i in answer["items"]]
    # impressions of everything shown: the items stay recommendable (not "seen")
    pop.send([pop.event("u0", i, "impression", rec_id=answer["rec_id"], position=n + 1) for n, i in enumerate(shown)])
    assert set(store.profile("u0", 50, 1000).seen) == set(seen_before)
    assert [i["item_id"] for i in pop.recs("u0", "k=10")["items"]] == shown
    disliked = shown[:2]
    pop.send(
        [
            pop.event("u0", disliked[0], "dislike", rec_id=answer["rec_id"], position=1),
            pop.event("u0", disliked[1], "not_interested"),
        ]
    )
    for strategy in ("blend", "graph", "interest", "embedding", "random"):
        for _ in range(3):
            items = {i["item_id"] for i in pop.recs("u0", f"k=40&strategy={strategy}")["items"]}
            assert items and not items & set(disliked), strategy
    # the dislike is the user's own: another user can still get the item
    assert disliked[0] in {i["item_id"] for i in pop.recs("u1", "k=40&strategy=random")["items"]}


def test_dislikes_lower_the_live_evidence_of_their_interest_in_any_order(client, keys: Keys):
    pop = Population(client, keys, n_users=0)
    # two users with the same history: scifi first, comedy a little behind
    history = []
    for user in ("a", "b"):
        history += [pop.event(user, f"scifi-{n}", "click", ts=NOW_MS - DAY_MS) for n in range(5)]
        history += [pop.event(user, f"comedy-{n}", "click", ts=NOW_MS - DAY_MS) for n in range(2)]
    # someone else made other items of both genres popular (what the interest strategy offers)
    history += [pop.event("c", i, "view", ts=NOW_MS - DAY_MS) for i in ("scifi-8", "scifi-9", "comedy-5", "comedy-6")]
    pop.send(history)

    def evidence(user: str) -> dict[str, float]:
        r = client.get(f"/v1/users/{user}/interests", headers=keys.header("read"))
        return {i["interest_id"]: i["evidence"] for i in r.get_json()["interests"]}

    def top_genre(user: str) -> str:
        return CATALOGUE[pop.recs(user, "k=1&strategy=interest")["items"][0]["item_id"]]

    before = evidence("a")
    assert before["genre:scifi"] > before["genre:comedy"] and top_genre("a") == "scifi"
    dislikes = [("scifi-5", "not_interested", 3), ("scifi-6", "dislike", 1), ("scifi-7", "not_interested", 2)]
    # a: one request, oldest first; b: one per request, newest first
    pop.send([pop.event("a", i, t, ts=NOW_MS - h * 3_600_000) for i, t, h in sorted(dislikes, key=lambda d: -d[2])])
    for i, t, h in sorted(dislikes, key=lambda d: d[2]):
        pop.send([pop.event("b", i, t, ts=NOW_MS - h * 3_600_000)])
    after_a, after_b = evidence("a"), evidence("b")
    assert after_a["genre:scifi"] == pytest.approx(after_b["genre:scifi"], rel=1e-6)
    lowered_by = sum({"dislike": 4, "not_interested": 2}[t] * math.exp(-h / (30 * 24)) for _, t, h in dislikes)
    assert after_a["genre:scifi"] == pytest.approx(before["genre:scifi"] - lowered_by, rel=1e-3)
    assert 0 < after_a["genre:scifi"] < before["genre:comedy"]
    assert after_a["genre:comedy"] == pytest.approx(before["genre:comedy"], rel=1e-3)  # other interests untouched
    # the interest strategy follows the live evidence: comedy leads now
    assert top_genre("a") == top_genre("b") == "comedy"


def test_online_metrics_per_strategy_in_sql_json_and_prometheus(client, keys: Keys):
    pop = Population(client, keys, n_users=12)
    sent: dict[str, list[dict[str, Any]]] = {}
    for user in pop.likes:
        for strategy in ("interest", "random"):
            answer = pop.recs(user, f"k=5&strategy={strategy}")
            events = [
                pop.event(user, i["item_id"], "impression", rec_id=answer["rec_id"], position=i["position"])
                for i in answer["items"]
            ]
            top = answer["items"][0]
            events.append(pop.event(user, top["item_id"], "click", rec_id=answer["rec_id"], position=1))
            events.append(pop.event(user, top["item_id"], "purchase", rec_id=answer["rec_id"], position=1))
            pop.send(events)
            sent.setdefault(answer["strategy"], []).extend(events)
    assert client.get("/v1/metrics/online", headers=keys.header("analyst")).get_json() == {"snapshots": []}
    for _ in range(2):
        r = client.post("/v1/metrics/online", headers=keys.header("admin"))
        assert r.status_code == 200, r.get_json()
    body = client.get("/v1/metrics/online?history=5", headers=keys.header("analyst")).get_json()
    assert len(body["snapshots"]) == 2  # the history keeps both computations
    groups = {g["strategy"]: g for g in body["snapshots"][0]["groups"]}
    assert set(groups) == set(sent)
    for strategy, events in sent.items():
        g = groups[strategy]
        shown = [e for e in events if e["type"] == "impression"]
        assert g["impressions"] == len(shown)
        assert g["clicks"] == len(pop.likes)
        assert g["ctr"] == pytest.approx(len(pop.likes) / len(shown))
        assert g["conversion_rate"] == pytest.approx(len(pop.likes) / len(shown))
        assert g["coverage"] == pytest.approx(len({e["item_id"] for e in shown}) / len(CATALOGUE))
        assert g["novelty"] >= 1 and 0 <= g["diversity"] <= 1
    # the interest strategy shows one genre per list; random mixes them
    assert groups["interest"]["diversity"] < groups["random"]["diversity"]
    text = client.get("/metrics").get_data(as_text=True)
    assert 'interest_graph_online{metric="ctr",model_version="",strategy="interest"}' in text


def test_a_forged_rec_id_is_refused_with_the_reason(client, keys: Keys):
    r = client.post(
        "/v1/events",
        json={
            "events": [
                {"event_id": "x", "user_id": "u", "item_id": "i", "type": "click", "ts": NOW_MS, "rec_id": "abc"}
            ]
        },
        headers=keys.header("ingest"),
    )
    assert r.status_code == 202
    assert "rec_id" in r.get_json()["rejected"][0]["error"]


def test_two_proportion_comparison():
    big = compare(300, 1000, 200, 1000)
    assert big.verdict == "better" and big.ci_low > 0 and big.p_value < 1e-5
    assert compare(200, 1000, 300, 1000).verdict == "worse"
    assert compare(205, 1000, 200, 1000).verdict == "no significant difference"
    assert compare(3, 20, 1, 20).verdict == "too small to tell"


def test_exposures_are_aggregated_per_user_and_item_for_training(client, keys: Keys):
    pop = Population(client, keys, n_users=0)
    events = [pop.event("u", "ignored", "impression") for _ in range(3)]
    events += [pop.event("u", "taken", "impression") for _ in range(3)] + [pop.event("u", "taken", "click")]
    events += [pop.event("u", "once", "impression"), pop.event("u", "hated", "dislike")]
    events += [pop.event("v", "ignored", "impression") for _ in range(2)]
    pop.send(events)
    pop.send(events[:2])  # duplicates: not counted again
    assert services_of(client).eventlog.exposures(min_impressions=3) == [("u", "hated", 0), ("u", "ignored", 3)]
    assert services_of(client).eventlog.exposures(min_impressions=2) == [
        ("u", "hated", 0),
        ("u", "ignored", 3),
        ("v", "ignored", 2),
    ]


def test_an_arm_can_be_a_blend_setting(published, keys: Keys):
    """Two arms of one strategy that differ only in their blend setting: the users of the
    arm that weighs every source but trending at 0 get trending items only, the others
    the model's neighbours; the setting is kept with the experiment and reported."""
    client = published.test_client()
    body = {"name": "trending only vs blend", "arms": [
        {"name": "blend", "strategy": "blend"},
        {"name": "trending", "strategy": "blend",
         "blend": {"learned": 0, "graph": 0, "interest": 0, "embedding": 0, "social": 0, "trending": 1}},
    ]}  # fmt: skip
    users = ("alice", "bob", "carol", "dave", "erin", "frank")
    exp, by_arm = experiment_with_every_arm(client, keys, body, users)
    assert exp["arms"][1]["blend"]["trending"] == 1 and "blend" not in exp["arms"][0]
    reasons: dict[str, set[str]] = {"blend": set(), "trending": set()}
    for arm, members in by_arm.items():
        for user in members:
            answer = client.get(f"/v1/users/{user}/recommendations?k=5", headers=keys.header("read")).get_json()
            assert answer["experiment"]["arm"] == arm  # a user stays in their arm
            assert answer["items"], user
            for item in answer["items"]:
                reasons[arm].update(item["reasons"])
    assert reasons["trending"] == {"trending"}, reasons
    assert any(r.startswith("similar to") or r.startswith("matches your interest") for r in reasons["blend"]), reasons
    report = client.get(f"/v1/experiments/{exp['experiment_id']}", headers=keys.header("analyst")).get_json()
    assert {a["arm"]: a["blend"] for a in report["results"]} == {
        "blend": None, "trending": body["arms"][1]["blend"]}  # fmt: skip


@pytest.mark.parametrize(
    ("blend", "message"),
    [
        ({"graph": 11}, "less than or equal to 10"),
        ({"graph": -1}, "greater than or equal to 0"),
        ({"popularity": 1}, "popularity"),
    ],
)
def test_a_bad_blend_setting_is_a_422_that_says_why(client, keys: Keys, blend, message):
    arms = [{"name": "a", "strategy": "blend"}, {"name": "b", "strategy": "blend", "blend": blend}]
    body = {"name": "bad", "arms": arms}
    r = client.post("/v1/experiments", json=body, headers=keys.header("admin"))
    assert r.status_code == 422
    assert message in str(r.get_json())
