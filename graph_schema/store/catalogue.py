"""The catalogue role: items (with their interest tags), interests and user records."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from graph_schema.rows import CatalogueItem
from graph_schema.store.base import StoreBase, chunks

# Properties a catalogue or user record may not overwrite (ids, training outputs, and
# User.rev, the user's incarnation, which the API's answer cache keys on; text_*: the
# refresh's text vector and the hash of the text it was computed from, training.text_sync).
RESERVED_ITEM_PROPS = frozenset(
    {"id", "embedding", "model_version", "refreshed_at", "rev", "text_embedding", "text_hash"}
)

_INT64 = (-(2**63), 2**63 - 1)


def _property_value(value: Any) -> Any:
    """A value both engines store as a property: a scalar or a homogeneous list
    (Neo4j refuses mixed-type lists); anything else is stored as JSON text."""
    if isinstance(value, (bool, str, float)):
        return value
    if isinstance(value, int):
        return value if _INT64[0] <= value <= _INT64[1] else str(value)
    if isinstance(value, (list, tuple)):
        items = list(value)
        if all(isinstance(v, str) for v in items) or all(isinstance(v, bool) for v in items):
            return items
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items):
            if all(isinstance(v, int) and _INT64[0] <= v <= _INT64[1] for v in items):
                return items
            return [float(v) for v in items]
    return json.dumps(value, sort_keys=True, default=str)


def _scalar_props(attributes: dict[str, Any]) -> dict[str, Any]:
    """Graph properties must be scalars or homogeneous lists of scalars on both engines."""
    return {
        key: _property_value(value)
        for key, value in attributes.items()
        if key not in RESERVED_ITEM_PROPS and value is not None
    }


class CatalogueWrites(StoreBase):
    def upsert_items(self, items: Sequence[CatalogueItem]) -> int:
        """Upsert catalogue records (last record per item wins); returns items written."""
        latest: dict[str, CatalogueItem] = {}
        for item in items:
            latest[item.item_id] = item
        rows = []
        for item in latest.values():
            props = _scalar_props(item.attributes)
            if item.title is not None:
                props["title"] = item.title
            tags = {i: {"id": i, "name": None, "kind": None, "weight": 1.0} for i in dict.fromkeys(item.interests)}
            rows.append({"item_id": item.item_id, "props": props, "interests": list(tags.values())})
        for batch in chunks(rows, self.batch_size):
            self._named_write("upsert_items", rows=list(batch))
        return len(rows)

    def upsert_interests(self, rows: Sequence[dict[str, Any]]) -> int:
        """rows: {interest_id, name, kind}; unique per interest_id (last wins)."""
        unique = list({r["interest_id"]: r for r in rows}.values())
        for batch in chunks(unique, self.batch_size):
            self._named_write("upsert_interests", rows=list(batch))
        return len(unique)

    def upsert_users(self, rows: Sequence[dict[str, Any]]) -> int:
        """rows: {user_id, props}; unique per user_id (last wins)."""
        unique = list(
            {r["user_id"]: {"user_id": r["user_id"], "props": _scalar_props(r.get("props", {}))} for r in rows}.values()
        )
        for batch in chunks(unique, self.batch_size):
            self._named_write("upsert_users", rows=list(batch))
        return len(unique)
