"""What a published model's serving snapshot costs to write (service/recs/model_snapshot.py):
the item side (vectors, similar lists, titles) and the user side an experiment arm pinned
to the version reads (each user's vector and learned ranking), on a DATA_DIR that already
holds a published model (bench/api.py --keep's, bench/scale.py --keep's).

It writes into a temporary directory (the DATA_DIR's own snapshots are not touched), times
the whole write and the user side's reads alone, and prints the sizes on disk.

    .venv/bin/python bench/snapshot.py --data-dir DIR [--graph-name NAME] [--repeat 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graph_schema.store import open_store  # noqa: E402
from service.config import ApiSettings  # noqa: E402
from service.recs import model_snapshot  # noqa: E402


def _size_mib(path: Path, names: tuple[str, ...]) -> float:
    return sum((path / n).stat().st_size for n in names) / 2**20


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--graph-name", default=None)
    p.add_argument("--repeat", type=int, default=2)
    a = p.parse_args()
    extra = {"graph_name": a.graph_name} if a.graph_name else {}
    settings = ApiSettings(data_dir=a.data_dir, **extra)
    user_files = ("users.json", "user_vectors.npy", "user_has_vector.npy", "ranking_items.npy",
                  "ranking_scores.npy", "ranking_because.npy", "ranking_at.npy")  # fmt: skip
    item_files = ("items.json", "vectors.npy", "has_vector.npy", "neighbours.npy", "scores.npy", "by_text.npy")
    with open_store(settings) as store:
        published = store.published()
        if published is None:
            raise SystemExit(f"no published model in {a.data_dir}")
        index = {}
        for page in iter_item_ids(store, published.version, published.similar_version):
            index.update((i, len(index)) for i in page)
        for run in range(1, a.repeat + 1):
            with tempfile.TemporaryDirectory() as tmp:
                started = time.perf_counter()
                path = model_snapshot.write(store, Path(tmp), settings.recs_similar_per_item)
                total = time.perf_counter() - started
                assert path is not None
                started = time.perf_counter()
                users = model_snapshot._user_side(store, published.version, index)
                user_s = time.perf_counter() - started
                print(
                    f"run {run}: {len(index):,} items, {len(users.ids):,} users; whole write {total:.2f} s, "
                    f"of which the user side ~{user_s:.2f} s; on disk: items {_size_mib(path, item_files):.1f} MiB, "
                    f"users {_size_mib(path, user_files):.1f} MiB"
                )


def iter_item_ids(store: object, version: str, similar_version: str) -> list[list[str]]:
    pages, after = [], ""
    while page := store.snapshot_page(version, similar_version, after, model_snapshot.PAGE, 1):  # type: ignore[attr-defined]
        pages.append([it.item_id for it in page])
        after = page[-1].item_id
    return pages


if __name__ == "__main__":
    main()
