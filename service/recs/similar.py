"""Items similar to an item: the published model's neighbours, topped up (or, before
a model, answered) by co-interaction."""

from __future__ import annotations

from typing import Any

from graph_schema.store.serving import ServingReads

CO_INTERACTION_USERS = 200  # the item's most recent users asked
CO_INTERACTION_CANDIDATES = 200  # their items scored


def similar_items(store: ServingReads, item_id: str, k: int, model_version: str | None) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    if model_version:
        for s in store.similar_items(item_id, model_version, k):
            items.append(
                {
                    "item_id": s.item_id,
                    "title": s.title,
                    "score": round(s.score, 6),
                    "reasons": ["similar in the published model"],
                }
            )
    if len(items) < k:
        seen = {i["item_id"] for i in items} | {item_id}
        source_title = store.item_titles([item_id]).get(item_id) or item_id
        rows = store.co_interacted_items(item_id, CO_INTERACTION_USERS, CO_INTERACTION_CANDIDATES, k=k + len(seen))
        top = max((r.score for r in rows), default=0.0) or 1.0
        floor = min((i["score"] for i in items), default=1.0)
        for r in rows:
            if r.item_id in seen or len(items) >= k:
                continue
            items.append(
                {
                    "item_id": r.item_id,
                    "title": r.title,
                    "score": round(r.score / top * (floor if model_version and items else 1.0), 6),
                    "reasons": [f"{r.shared} users who interacted with {source_title} also interacted with this"],
                }
            )
    return {"item_id": item_id, "model_version": model_version, "items": items[:k]}
