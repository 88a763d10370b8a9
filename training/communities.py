"""Interest communities: Louvain (scikit-network) on the user-user graph of follows plus
shared strong interests, written as (:User)-[:MEMBER_OF {model_version}]->(:Community).

The graph: a follow or friend edge weighs its tie weight (both directions add up, so a
friendship weighs 2); two users sharing a strong interest are linked with
COMMUNITY_INTEREST_WEIGHT × (their weights for it, each relative to their strongest),
summed over shared interests. A user's strong interests are their
STRONG_INTERESTS strongest with at least STRONG_SHARE of the strongest one's weight;
only the PER_INTEREST strongest users of an interest are linked through it (bounds
the pairs of a popular interest).

Community ids stay stable across versions: a new community takes the id of the
previous version's community it overlaps most (Jaccard >= KEEP_ID_JACCARD), else a new
one. Groups smaller than COMMUNITY_MIN_SIZE are not written. No torch here.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from graph_schema.clock import now_ms
from graph_schema.settings import Settings
from graph_schema.store.social import CommunityRow, SocialGraph

log = logging.getLogger(__name__)

STRONG_INTERESTS = 3
STRONG_SHARE = 0.5
# the strongest users linked through one interest: its pairs are PER_INTEREST² / 2 at most,
# so the graph stays ~interests × 1,250 edges at any scale (300 gave up to 13.5M edges, in
# Python dicts, at 1M events: minutes and gigabytes)
PER_INTEREST = 50
TOP_INTERESTS = 10  # interests kept per community (with their shares)
KEEP_ID_JACCARD = 0.3


@dataclass
class Detected:
    communities: list[CommunityRow]
    members: list[tuple[str, str]]  # (user, community id)
    users_in_graph: int
    edges: int


def user_graph(
    relations: Iterable[tuple[str, str, float]],
    interests: Iterable[tuple[str, str, str, float]],
    interest_weight: float,
) -> dict[tuple[str, str], float]:
    """Undirected weighted user-user edges {(a, b) with a < b: weight}."""
    edges: dict[tuple[str, str], float] = defaultdict(float)
    for a, b, w in relations:
        if a != b and w > 0:
            edges[(a, b) if a < b else (b, a)] += w
    if interest_weight > 0:
        by_user: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for user, interest, _, w in interests:
            by_user[user].append((interest, w))
        by_interest: dict[str, list[tuple[float, str]]] = defaultdict(list)
        for user, rows in by_user.items():
            rows.sort(key=lambda r: (-r[1], r[0]))
            top = rows[0][1]
            for interest, w in rows[:STRONG_INTERESTS]:
                if w >= STRONG_SHARE * top:
                    by_interest[interest].append((w / top, user))
        for members in by_interest.values():
            members.sort(key=lambda m: (-m[0], m[1]))
            members = members[:PER_INTEREST]
            for i, (wa, a) in enumerate(members):
                for wb, b in members[i + 1 :]:
                    edges[(a, b) if a < b else (b, a)] += interest_weight * wa * wb
    return dict(edges)


def louvain(edges: dict[tuple[str, str], float], resolution: float, seed: int) -> list[set[str]]:
    """Louvain communities of the weighted user graph (scikit-network's Cython
    implementation: at 1M events, 12k users and 363k edges, 0.4 s where networkx's
    pure-Python one took 7.5 s, at the same modularity). Nodes are visited in sorted id
    order, so the same graph gives the same groups; `seed` seeds the tie-breaking."""
    import numpy as np
    import scipy.sparse as sp
    from sknetwork.clustering import Louvain

    if not edges:
        return []
    nodes = sorted({u for pair in edges for u in pair})
    pos = {u: k for k, u in enumerate(nodes)}
    n = len(edges)
    a = np.fromiter((pos[x] for x, _ in edges), np.int64, n)
    b = np.fromiter((pos[y] for _, y in edges), np.int64, n)
    w = np.fromiter(edges.values(), np.float64, n)
    adjacency = sp.csr_matrix((np.r_[w, w], (np.r_[a, b], np.r_[b, a])), shape=(len(nodes), len(nodes)))
    labels = Louvain(resolution=resolution, random_state=seed).fit_predict(adjacency)
    groups: list[set[str]] = [set() for _ in range(int(labels.max()) + 1)]
    for node, label in zip(nodes, labels.tolist(), strict=True):
        groups[label].add(node)
    return groups


def stable_ids(groups: list[set[str]], previous: dict[str, list[str]]) -> list[str]:
    """An id per group: the previous community it overlaps most (largest groups choose
    first), else the next free `cN`."""
    prev = {cid: set(m) for cid, m in previous.items()}
    taken: set[str] = set()
    numbers = [int(c[1:]) for c in prev if c.startswith("c") and c[1:].isdigit()]
    next_n = max(numbers, default=0) + 1
    ids: list[str] = [""] * len(groups)
    for n in sorted(range(len(groups)), key=lambda n: -len(groups[n])):
        best, best_j = None, KEEP_ID_JACCARD
        for cid, members in prev.items():
            if cid in taken:
                continue
            j = len(groups[n] & members) / len(groups[n] | members)
            if j >= best_j:
                best, best_j = cid, j
        if best is None:
            best, next_n = f"c{next_n}", next_n + 1
        taken.add(best)
        ids[n] = best
    return ids


def detect(store: SocialGraph, settings: Settings, previous: dict[str, list[str]]) -> Detected:
    relations = store.all_relations()
    interests = store.user_interest_weights()
    edges = user_graph(relations, interests, settings.community_interest_weight)
    groups = [g for g in louvain(edges, settings.community_resolution, settings.community_seed) if g]
    users_in_graph = sum(len(g) for g in groups)
    groups = [g for g in groups if len(g) >= settings.community_min_size]
    ids = stable_ids(groups, previous)
    weights: dict[str, dict[str, float]] = defaultdict(dict)
    names: dict[str, str] = {}
    top_of: dict[str, float] = defaultdict(float)
    for user, interest, name, w in interests:
        weights[user][interest] = w
        names[interest] = name
        top_of[user] = max(top_of[user], w)
    communities, members = [], []
    for cid, group in zip(ids, groups, strict=True):
        totals: dict[str, float] = defaultdict(float)
        for user in group:
            for interest, w in weights.get(user, {}).items():
                totals[interest] += w / top_of[user]
            members.append((user, cid))
        whole = sum(totals.values()) or 1.0
        top = sorted(totals, key=lambda i: (-totals[i], i))[:TOP_INTERESTS]
        communities.append(
            CommunityRow(
                cid,
                len(group),
                tuple(top),
                tuple(names[i] for i in top),
                tuple(round(totals[i] / whole, 6) for i in top),
            )
        )
    communities.sort(key=lambda c: (-c.size, c.community_id))
    return Detected(communities, sorted(members), users_in_graph, len(edges))


def detect_and_write(store: SocialGraph, settings: Settings, version: str) -> dict[str, int]:
    """Detect the communities and write them under `version` (the published model's)."""
    previous_version = next((v for v in store.community_versions() if v != version), None)
    previous = store.community_members(previous_version) if previous_version else {}
    found = detect(store, settings, previous)
    counts = store.write_communities(version, found.communities, found.members, now_ms(), settings.community_versions)
    log.info(
        "communities of %s: %d (sizes %s) from %d users, %d edges",
        version,
        len(found.communities),
        [c.size for c in found.communities[:10]],
        found.users_in_graph,
        found.edges,
    )
    return {**counts, "community_graph_users": found.users_in_graph, "community_graph_edges": found.edges}
