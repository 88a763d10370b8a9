"""People you may like: users ranked by friends of friends, shared interests and
closeness in the published model's embedding space, never one already followed.

score = PEOPLE_WEIGHTS-weighted sum of three 0..1 parts: the share of the user's
follows leading to the candidate (friends of friends, normalised by the best), the
shared-interest score (normalised by the best), and the cosine of the two users'
published vectors (clipped at 0; only when both have one). Candidates come from the
first two; the embedding re-scores them (no scan over every user's vector)."""

from __future__ import annotations

import math
from typing import Any

from graph_schema.store import GraphStore

PEOPLE_WEIGHTS = {"friends": 0.4, "interests": 0.35, "embedding": 0.25}
PEOPLE_INTERESTS = 5  # the user's strongest interests whose users become candidates
PEOPLE_PER_INTEREST = 200  # strongest users read per interest


def _cosine(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


def people(store: GraphStore, user_id: str, k: int, model_version: str | None) -> dict[str, Any]:
    """{user_id, model_version, items: [{user_id, score, reasons}]}, best first."""
    followed = {f.user_id for f in store.following(user_id)} | {user_id}
    pool = 5 * k + 50
    fof = [c for c in store.people_by_friends(user_id, pool) if c.user_id not in followed]
    shared = [
        c
        for c in store.people_by_interests(user_id, PEOPLE_INTERESTS, PEOPLE_PER_INTEREST, pool)
        if c.user_id not in followed
    ]
    candidates = {c.user_id for c in fof} | {c.user_id for c in shared}
    by_friends = {c.user_id: c for c in fof}
    by_interests = {c.user_id: c for c in shared}
    top_via = max((len(c.via) for c in fof), default=1) or 1
    top_shared = max((c.shared for c in shared), default=0.0) or 1.0
    vectors: dict[str, tuple[float, ...]] = {}
    if model_version and candidates:
        vectors = store.user_embeddings(sorted(candidates | {user_id}), model_version)
    mine = vectors.get(user_id)
    scored = []
    for cand in candidates:
        parts: list[tuple[float, str]] = []
        f = by_friends.get(cand)
        if f is not None:
            n = len(f.via)
            why = f"followed by {n} people you follow" if n > 1 else f"followed by {f.via[0]}, whom you follow"
            parts.append((PEOPLE_WEIGHTS["friends"] * n / top_via, why))
        s = by_interests.get(cand)
        if s is not None and s.shared > 0:
            parts.append(
                (
                    PEOPLE_WEIGHTS["interests"] * s.shared / top_shared,
                    "shares your interests " + ", ".join(s.interests[:3]),
                )
            )
        if mine is not None and cand in vectors:
            cos = max(0.0, _cosine(mine, vectors[cand]))
            if cos > 0:
                parts.append((PEOPLE_WEIGHTS["embedding"] * cos, "close to your taste in the published model"))
        score = sum(p for p, _ in parts)
        if score <= 0:
            continue
        reasons = [why for _, why in sorted(parts, key=lambda p: -p[0])]
        scored.append({"user_id": cand, "score": round(score, 6), "reasons": reasons})
    scored.sort(key=lambda e: (-e["score"], e["user_id"]))
    return {"user_id": user_id, "model_version": model_version, "items": scored[:k]}
