"""The evidence paths behind a user's recommendations, as graph elements to draw
(Cytoscape.js's {data: {...}} shape):

- user -> item the user knows -> recommended item: the recommender's own evidence
  (similar_item or similar_description, learned with its `because` item), and the published SIMILAR_TO edges
  between a recommended item and the user's items;
- user -> interest <- recommended item: the recommended item's tags among the user's
  strongest interests.

At most PATHS_PER_ITEM of each kind per recommended item, so the drawing stays small.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

PATHS_PER_ITEM = 2


def evidence_elements(
    user_id: str,
    recs: Iterable[Mapping[str, Any]],
    known: Sequence[str],
    titles: Mapping[str, str | None],
    neighbours: Mapping[str, Sequence[str]],
    tags: Mapping[str, Sequence[str]],
    interests: Mapping[str, str],
) -> list[dict[str, Any]]:
    """`known`: the user's items, most recent first; `neighbours`: a recommended item's
    published similar items; `tags`: its interests; `interests`: the user's strongest
    interests (id -> name), strongest first."""
    nodes: dict[str, dict[str, Any]] = {}
    edges: dict[str, dict[str, Any]] = {}
    known_rank = {item: n for n, item in enumerate(known)}

    def node(node_id: str, label: str, kind: str) -> str:
        nodes.setdefault(node_id, {"data": {"id": node_id, "label": label, "kind": kind}})
        return node_id

    def edge(source: str, target: str, label: str) -> None:
        key = f"{source}->{target}:{label}"
        edges.setdefault(key, {"data": {"id": key, "source": source, "target": target, "label": label}})

    def via_item(item_id: str, rec_node: str, label: str) -> None:
        known_node = node(f"item:{item_id}", titles.get(item_id) or item_id, "known")
        edge(user, known_node, "INTERACTED")
        edge(known_node, rec_node, label)

    user = node(f"user:{user_id}", f"user {user_id}", "user")
    for rec in recs:
        rec_id = str(rec["item_id"])
        rec_node = node(f"item:{rec_id}", rec.get("title") or rec_id, "recommended")
        stated = [ev for ev in rec.get("evidence") or [] if ev.get("item_id")]
        for ev in stated[:PATHS_PER_ITEM]:
            similar = ev.get("kind") in {"similar_item", "similar_description"}
            via_item(str(ev["item_id"]), rec_node, "SIMILAR_TO" if similar else "LIKED_ALSO")
        mine = sorted((i for i in neighbours.get(rec_id, ()) if i in known_rank), key=known_rank.__getitem__)
        for item_id in mine[: max(0, PATHS_PER_ITEM - len(stated))]:
            via_item(item_id, rec_node, "SIMILAR_TO")
        shared = [i for i in interests if i in set(tags.get(rec_id, ()))]
        for interest_id in shared[:PATHS_PER_ITEM]:
            interest = node(f"interest:{interest_id}", interests[interest_id], "interest")
            edge(user, interest, "INTERESTED_IN")
            edge(rec_node, interest, "TAGGED")
    return [*nodes.values(), *edges.values()]
