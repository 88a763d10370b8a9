"""MovieLens-100K as store-shaped rows, read from the data files the recbole wheel ships.

recbole itself is never imported (it was installed without its dependencies); only its
package directory is located to find the atomic files.
"""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path
from typing import Any

GENRE_PREFIX = "genre:"


def ml100k_dir() -> Path:
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("recbole is not installed; it ships the MovieLens-100K files")
    path = Path(spec.submodule_search_locations[0]) / "dataset_example" / "ml-100k"
    if not (path / "ml-100k.inter").exists():
        raise FileNotFoundError(f"no ml-100k.inter under {path}")
    return path


def read_atomic(path: Path) -> list[dict[str, str]]:
    """A RecBole atomic file: tab separated, header `name:type`, one dict per row."""
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = [h.split(":", 1)[0] for h in next(reader)]
        return [dict(zip(header, row, strict=False)) for row in reader]


Rows = list[dict[str, Any]]


def load_ml100k(directory: Path | None = None) -> tuple[Rows, Rows, Rows]:
    """(interactions, tags, items): one interaction per rating (weight = rating, ts in epoch ms,
    file order kept), genres as interest tags, items with title and year."""
    d = directory or ml100k_dir()
    interactions = []
    for r in read_atomic(d / "ml-100k.inter"):
        ts = int(float(r["timestamp"])) * 1000
        interactions.append(
            {
                "user_id": r["user_id"],
                "item_id": r["item_id"],
                "weight": float(r["rating"]),
                "count": 1,
                "first_ts": ts,
                "last_ts": ts,
            }
        )
    tags, items = [], []
    for r in read_atomic(d / "ml-100k.item"):
        items.append({"id": r["item_id"], "title": r.get("movie_title", ""), "year": r.get("release_year", "")})
        for genre in (r.get("class") or "").split():
            tags.append({"item_id": r["item_id"], "interest_id": GENRE_PREFIX + genre, "weight": 1.0})
    return interactions, tags, items
