"""The evidence paths behind a user's recommendations, as graph elements to draw
(Cytoscape.js's {data: {...}} shape): user -> item the user knows -> recommended item
(similar_item / learned evidence), user -> interest <- recommended item (interest evidence).

Built from the recommender's own explained answer, so the drawing shows exactly the
evidence the API returns, with no extra graph read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def evidence_elements(user_id: str, items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    nodes: dict[str, dict[str, Any]] = {}
    edges: dict[str, dict[str, Any]] = {}

    def node(node_id: str, label: str, kind: str) -> str:
        nodes.setdefault(node_id, {"data": {"id": node_id, "label": label, "kind": kind}})
        return node_id

    def edge(source: str, target: str, label: str) -> None:
        key = f"{source}->{target}:{label}"
        edges.setdefault(key, {"data": {"id": key, "source": source, "target": target, "label": label}})

    user = node(f"user:{user_id}", f"user {user_id}", "user")
    for rec in items:
        rec_node = node(f"item:{rec['item_id']}", rec.get("title") or str(rec["item_id"]), "recommended")
        for ev in rec.get("evidence") or []:
            kind = ev.get("kind")
            if kind in ("similar_item", "learned") and ev.get("item_id"):
                known = node(f"item:{ev['item_id']}", ev.get("title") or str(ev["item_id"]), "known")
                edge(user, known, "INTERACTED")
                edge(known, rec_node, "SIMILAR_TO" if kind == "similar_item" else "LIKED_ALSO")
            elif kind == "interest" and ev.get("interest_id"):
                interest = node(f"interest:{ev['interest_id']}", ev.get("name") or str(ev["interest_id"]), "interest")
                edge(user, interest, "INTERESTED_IN")
                edge(rec_node, interest, "TAGGED")
    return [*nodes.values(), *edges.values()]
