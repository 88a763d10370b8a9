"""MovieLens-100K import through the normal log + graph path: genres as interests,
movies as catalogue items, users with their demographics, then every rating as a
`rating` event (original time). The files are read by training.movielens (the
one reader, torch-free), whose genre_id names the genre interests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from graph_schema.store import GraphStore
from service.ingest import catalogue
from service.ingest.eventlog import EventLog
from service.ingest.graph_writer import GraphWriter
from service.ingest.schemas import EventIn, ItemIn
from training.movielens import MovieLens, genre_id, load


def catalogue_items(ml: MovieLens) -> list[ItemIn]:
    """The movies as catalogue records: tagged with their genres; the year and the genre
    names as attributes (with the title, the item's text for the refresh's text encoder)."""
    return [
        ItemIn(
            item_id=m.item_id,
            title=m.title,
            interests=[genre_id(g) for g in m.genres],
            attributes={
                **({"year": m.year} if m.year is not None else {}),
                **({"genres": list(m.genres)} if m.genres else {}),
            },
        )
        for m in ml.items
    ]


def import_movielens(
    store: GraphStore, log: EventLog, path: Path | None = None, progress: Callable[[int], None] | None = None
) -> dict[str, int]:
    """Read the data set (the recbole wheel's copy unless `path`) and import it."""
    return import_dataset(store, log, load(path), progress)


def import_dataset(
    store: GraphStore, log: EventLog, ml: MovieLens, progress: Callable[[int], None] | None = None
) -> dict[str, int]:
    """Genres, items, users, then every rating as a `rating` event, through the
    event log in batches of `batch_size` (see GraphWriter.ingest)."""
    genres = [{"interest_id": genre_id(g), "name": g, "kind": "genre"} for g in ml.genres]
    catalogue.upsert_interests(log, store, genres)
    catalogue.upsert_items(log, store, catalogue_items(ml))
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
