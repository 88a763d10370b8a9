"""What item text (all-MiniLM-L6-v2) buys on MovieLens-100K, and what it costs.

1. new-item recall: 10 % of the items are held out entirely (all their ratings go to the test
   period). Users are ranked over the held-out items only, NDCG@20 / Recall@20, by
   - no signal (popularity is all zero for new items: a random order) and the catalogue (the user's
     genre profile . the item's genres), the paths without text;
   - text: a ridge projection from text embeddings to warm item factors (an SVD of the training
     matrix), applied to the new items' text (fold-in from text), and a plain text profile (the
     mean text embedding of the user's rated items . the item's);
   - the refresh's GNN (LightGCN with the genre tags in the graph) without and with the item
     text feature through its learned projection, with the warm items' newest 10 % of ratings
     as a second hold-out: what text costs or buys on items with interactions.
   Text = title, year and genres, as the MovieLens import writes it.
2. tagging: genres of 20 % of the items are hidden; text = title and year only (the genres are
   what is recovered). The cosine threshold to the genre names' embeddings is chosen on the
   other 80 % (best F1), precision / recall are reported on the hidden 20 %.
3. cost: embedding all items on a first run, and an unchanged re-run (hashes match: nothing
   embedded), plus the raw size of what the graph would store per item.

    python -m bench.text [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import graph_schema  # noqa: F401  first: numpy's BLAS kernels (graph_schema.blas)

# isort: split
import numpy as np

from training import movielens, text
from training.metrics import rank_metrics, top_k
from training.text_tags import choose_threshold, precision_recall


def new_item_recall(ml: movielens.MovieLens, vectors: np.ndarray, seed: int, factors: int = 64) -> dict[str, dict]:
    rng = np.random.default_rng(seed)
    item_index = {m.item_id: j for j, m in enumerate(ml.items)}
    users = sorted({u for u, *_ in ml.ratings})
    user_index = {u: i for i, u in enumerate(users)}
    n_items = len(ml.items)
    cold = np.zeros(n_items, dtype=bool)
    cold[rng.choice(n_items, n_items // 10, replace=False)] = True
    u = np.array([user_index[r[0]] for r in ml.ratings])
    i = np.array([item_index[r[1]] for r in ml.ratings])
    train = ~cold[i]
    matrix = np.zeros((len(users), n_items), dtype=np.float32)
    matrix[u[train], i[train]] = 1.0
    cold_ids = np.flatnonzero(cold)
    column = {j: c for c, j in enumerate(cold_ids)}
    truth = [np.array(sorted({column[j] for j in i[~train & (u == row)]}), dtype=np.int64) for row in range(len(users))]

    # warm item factors from the training matrix; a ridge map text -> factors fitted on warm items
    left, sigma, right = np.linalg.svd(matrix, full_matrices=False)
    user_f = left[:, :factors] * np.sqrt(sigma[:factors])
    item_f = (right[:factors].T * np.sqrt(sigma[:factors])).astype(np.float32)
    warm = ~cold
    x = vectors[warm]
    projection = np.linalg.solve(x.T @ x + 1.0 * np.eye(x.shape[1]), x.T @ item_f[warm])
    genres = np.array([[g in m.genres for g in ml.genres] for m in ml.items], dtype=np.float32)
    scores = {
        # popularity is zero for every new item; the file order of MovieLens ids is itself informative
        # (low ids: older, popular films), so "no signal" is a seeded random order, not the tie order
        "no signal (no text)": rng.random((len(users), len(cold_ids)), dtype=np.float32),
        "catalogue genres (no text)": (matrix @ genres) @ genres[cold_ids].T,
        "text profile": (matrix @ vectors) @ vectors[cold_ids].T,
        "text -> learned projection": user_f @ (vectors[cold_ids] @ projection).T,
    }
    return {name: rank_metrics(top_k(s, 20), truth, ks=(20,)) for name, s in scores.items()}


def gnn_new_items(
    ml: movielens.MovieLens, vectors: np.ndarray, seed: int, epochs: int
) -> dict[str, dict[str, dict[str, float]]]:
    """The refresh's GNN (training.train, LightGCN) with and without the item text feature.

    The same 10 % of items as new_item_recall are held out with all their ratings; the
    catalogue's genre tags of every item stay in the graph (so without text a new item still
    gets a vector through its genres). Of the other ratings, the newest 10 % are held out too,
    to measure what text costs or buys on the warm items (the trade-off). Returns, per
    variant, NDCG@20 / Recall@20 on the new items (ranked among themselves) and on the warm
    hold-out (ranked over every item, the user's training items excluded)."""
    from training.config import TrainConfig
    from training.data import TrainingData
    from training.train import train

    rng = np.random.default_rng(seed)
    n_items = len(ml.items)
    cold = np.zeros(n_items, dtype=bool)
    cold[rng.choice(n_items, n_items // 10, replace=False)] = True
    cold_ids = {m.item_id for m, c in zip(ml.items, cold, strict=True) if c}
    warm = sorted((r for r in ml.ratings if r[1] not in cold_ids), key=lambda r: r[3])
    cut = int(len(warm) * 0.9)
    rows = [{"user_id": u, "item_id": i, "weight": w, "last_ts": t} for u, i, w, t in warm[:cut]]
    tags = [{"item_id": m.item_id, "interest_id": g, "weight": 1.0} for m in ml.items for g in m.genres]
    data = TrainingData.from_rows(rows, tags)
    t_ref = max(r[3] for r in warm[:cut])
    seen = data.user_items()
    cold_pos = np.array(sorted(data.items.pos[i] for i in cold_ids), dtype=np.int64)
    column = {int(j): c for c, j in enumerate(cold_pos)}
    cold_truth: list[set[int]] = [set() for _ in range(data.n_users)]
    warm_truth: list[set[int]] = [set() for _ in range(data.n_users)]
    for u, i, _, _ in ml.ratings:
        if u in data.users.pos and i in cold_ids:
            cold_truth[data.users.pos[u]].add(column[data.items.pos[i]])
    for u, i, _, _ in warm[cut:]:
        if u in data.users.pos and i in data.items.pos:
            warm_truth[data.users.pos[u]].add(data.items.pos[i])
    as_arrays = [np.array(sorted(t), dtype=np.int64) for t in cold_truth]
    warm_arrays = [np.array(sorted(t), dtype=np.int64) for t in warm_truth]
    by_id = {m.item_id: vectors[j] for j, m in enumerate(ml.items)}
    cfg = TrainConfig(epochs=epochs, progress=False, device="cpu", seed=seed)
    out = {}
    for name, variant in (("GNN, no text", data), ("GNN + text projection", data.with_item_text(by_id))):
        start = time.perf_counter()
        emb = train(variant, t_ref, cfg).embeddings
        users, items = emb["user"], emb["item"]
        new = rank_metrics(top_k(users @ items[cold_pos].T, 20), as_arrays, ks=(20,))
        old = rank_metrics(top_k(users @ items.T, 20, exclude=seen), warm_arrays, ks=(20,))
        out[name] = {"new items": new, "warm hold-out": old, "seconds": {"train": time.perf_counter() - start}}
    return out


def tagging(ml: movielens.MovieLens, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    items = [m for m in ml.items if m.genres and m.genres != ("unknown",)]
    hidden = np.zeros(len(items), dtype=bool)
    hidden[rng.choice(len(items), len(items) // 5, replace=False)] = True
    vectors = text.embed([text.item_text(m.title, None, {"year": str(m.year or "")}) for m in items])
    genre_names = [g for g in ml.genres if g != "unknown"]
    interests = text.embed([f"{g} movies" for g in genre_names])
    scores = vectors @ interests.T
    known = np.array([[g in m.genres for g in genre_names] for m in items])
    threshold = choose_threshold(scores[~hidden], known[~hidden])
    predicted, truth = {}, {}
    for row in np.flatnonzero(hidden):
        predicted[items[row].item_id] = {genre_names[c] for c in np.flatnonzero(scores[row] >= threshold)}
        truth[items[row].item_id] = set(items[row].genres)
    precision, recall = precision_recall(predicted, truth)
    best = {k: {genre_names[int(np.argmax(scores[r]))]} for k, r in zip(truth, np.flatnonzero(hidden), strict=True)}
    top1_precision, _ = precision_recall(best, truth)
    return {
        "threshold": threshold,
        "hidden_items": int(hidden.sum()),
        "precision": precision,
        "recall": recall,
        "top1_precision": top1_precision,
        "tags_per_item": sum(map(len, predicted.values())) / len(predicted),
    }


def compare_precisions(texts: list[str], k: int = 20) -> int:
    """The encoder in float32 and in bfloat16 on the same texts: time (best of 3), how far
    the vectors move, and how many of each text's k nearest texts stay."""
    text.load_encoder()
    text.embed(texts[:64])  # warm-up
    runs: dict[str, tuple[float, np.ndarray]] = {}
    for precision in ("float32", "bfloat16"):
        times = []
        for _ in range(3):
            start = time.perf_counter()
            vectors = text.embed(texts, precision=precision)
            times.append(time.perf_counter() - start)
        runs[precision] = (min(times), vectors)
    (t32, v32), (t16, v16) = runs["float32"], runs["bfloat16"]
    cosine = (v32 * v16).sum(1)
    near32, near16 = text.nearest(v32, k), text.nearest(v16, k)
    kept = np.mean([len(set(a) & set(b)) / k for a, b in zip(near32.tolist(), near16.tolist(), strict=True)])
    print(f"{len(texts)} texts; native bfloat16 on this CPU: {text.cpu_has_bf16()}; "
          f"auto picks {text.resolve_precision('auto', 'cpu')}")  # fmt: skip
    print(f"float32 {t32:.2f} s ({len(texts) / t32:.0f} texts/s); "
          f"bfloat16 {t16:.2f} s ({len(texts) / t16:.0f} texts/s), {t32 / t16:.2f}x")  # fmt: skip
    print(f"cosine(float32, bfloat16) mean {cosine.mean():.5f} min {cosine.min():.5f}; "
          f"{k} nearest texts kept {kept:.1%}")  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=30, help="GNN training epochs (TrainConfig's default)")
    parser.add_argument(
        "--precision", action="store_true", help="only compare the encoder in float32 and bfloat16 (TEXT_PRECISION)"
    )
    a = parser.parse_args(argv)
    ml = movielens.load()
    texts = {
        m.item_id: text.item_text(m.title, None, {"year": str(m.year or ""), "genres": list(m.genres)})
        for m in ml.items
    }
    if a.precision:
        return compare_precisions(list(texts.values()))

    start = time.perf_counter()
    text.load_encoder()
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    first = text.embed_changed(texts, {}, progress=False)
    first_s = time.perf_counter() - start
    stored = dict(zip(first.ids, first.hashes, strict=True))
    start = time.perf_counter()
    again = text.embed_changed(texts, stored)
    again_s = time.perf_counter() - start
    per_item = text.DIMENSIONS * 8 + 32  # a list of 384 doubles + a 32-character hash
    print(f"cost: model load {load_s:.1f} s; first run {len(first.ids)} items embedded in {first_s:.1f} s; "
          f"unchanged re-run {len(again.ids)} embedded, {again.unchanged} skipped in {again_s:.3f} s; "
          f"storage ~{per_item} B/item raw = {per_item * len(texts) / 1e6:.1f} MB for {len(texts)} items")  # fmt: skip

    vectors = np.zeros((len(ml.items), text.DIMENSIONS), dtype=np.float32)
    row = {k: j for j, k in enumerate(first.ids)}
    for j, m in enumerate(ml.items):
        vectors[j] = first.vectors[row[m.item_id]]
    for name, metrics in new_item_recall(ml, vectors, a.seed).items():
        print(f"new items, {name:28s} NDCG@20 {metrics['ndcg@20']:.4f}  Recall@20 {metrics['recall@20']:.4f}"
              f"  users {int(metrics['users'])}")  # fmt: skip
    for name, result in gnn_new_items(ml, vectors, a.seed, a.epochs).items():
        for part in ("new items", "warm hold-out"):
            metrics = result[part]
            print(f"{name:24s} {part:14s} NDCG@20 {metrics['ndcg@20']:.4f}  Recall@20 {metrics['recall@20']:.4f}"
                  f"  users {int(metrics['users'])}  ({result['seconds']['train']:.0f} s)")  # fmt: skip
    t = tagging(ml, a.seed)
    print(
        f"tagging on {t['hidden_items']} hidden items: threshold {t['threshold']:.2f}, "
        f"precision {t['precision']:.3f}, recall {t['recall']:.3f}, {t['tags_per_item']:.2f} tags/item; "
        f"best genre only: precision {t['top1_precision']:.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
