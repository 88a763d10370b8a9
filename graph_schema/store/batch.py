"""An ingest batch as apply_interactions.cypher takes it, and the tag cache that
lets the store compute live interest evidence instead of the graph's writer.

Every event of a batch is folded into one row per (user, item) and one evidence
term per (user, interest) here, in the client, with the same order-independent
decay as graph_schema.decay: the graph then only MERGEs distinct keys.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from graph_schema.decay import fold, fold_many
from graph_schema.rows import Interaction

# An item's tags: (interest_id, tag weight) per TAGGED edge.
Tags = tuple[tuple[str, float], ...]
# (catalogue revision, tags of the asked items: every asked item, () if untagged)
TagFetch = Callable[[list[str]], tuple[int, dict[str, Tags]]]

# Positional rows, times relative to the batch's earliest event (t0): the query's
# parameter text is encoded by the client and parsed by the graph's single writer,
# so it is kept short (maps would double it). See apply_interactions.cypher.
#   item row:     [item_id, weight, last_ts - t0]                       (one event)
#                 [item_id, weight, last_ts - t0, count, first_ts - t0, evidence term]
#                 (several: their decayed sum as of last_ts, for apply_interactions_tagged)
#   evidence row: [interest index, evidence, evidence_ts - t0]


def aggregate_interactions(
    events: Sequence[Interaction], tau_ms: float, tags: Mapping[str, Tags]
) -> tuple[list[list[Any]], list[str], int]:
    """(users, interests, t0): one [user_id, item rows, evidence rows] entry per
    user, the interests the evidence rows point into (by position), and the time
    the rows' times are relative to.

    Item rows: weights and counts add, first/last ts are min/max. Evidence rows:
    each (user, item)'s events fold into one decayed term as of its last_ts, times
    the tag weight, and the terms of all the user's items with that interest fold
    into one (evidence, evidence_ts) state."""
    groups: dict[str, dict[str, list[Interaction]]] = {}
    for ev in events:
        groups.setdefault(ev.user_id, {}).setdefault(ev.item_id, []).append(ev)
    t0 = min(ev.ts for ev in events) if events else 0
    interests: dict[str, int] = {}
    users: list[list[Any]] = []
    for user_id, items in groups.items():
        rows = []
        evidence: dict[int, list[Any]] = {}
        for item_id, evs in items.items():
            if len(evs) == 1:  # the common case, without the folding arithmetic
                e = evs[0]
                last, ev_w = e.ts, e.weight
                rows.append([item_id, float(e.weight), last - t0])
            else:
                ev_w, last = fold_many(((e.weight, e.ts) for e in evs), tau_ms)
                first = min(e.ts for e in evs)
                weight = float(sum(e.weight for e in evs))
                rows.append([item_id, weight, last - t0, len(evs), first - t0, float(ev_w)])
            for interest_id, tag_weight in tags.get(item_id, ()):
                k = interests.setdefault(interest_id, len(interests))
                term = float(ev_w) * tag_weight
                state = evidence.get(k)
                if state is None:
                    evidence[k] = [k, term, last]
                else:
                    state[1], state[2] = fold(state[1], state[2], term, last, tau_ms)
        for state in evidence.values():
            state[2] -= t0
        users.append([user_id, rows, list(evidence.values())])
    return users, list(interests), t0


class TagCache:
    """Item id -> tags, all read under one catalogue revision (`rev`).

    A read returning another revision drops everything cached before: the catalogue
    changed, and any item's tags may have. The graph checks the revision when the
    batch lands (apply_interactions.cypher), so a stale cache costs a re-read,
    never wrong evidence. Thread-safe; bounded (cleared when full)."""

    MAX_ITEMS = 1_000_000
    READS = 8  # revisions a lookup chases before giving up (the catalogue keeps changing)

    def __init__(self) -> None:
        self.rev: int | None = None
        self._tags: dict[str, Tags] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self.rev = None
            self._tags.clear()

    def fill(self, rev: int, tags: Mapping[str, Tags]) -> None:
        """Replace everything with a whole catalogue's tags, read under `rev`."""
        with self._lock:
            self.rev = rev
            self._tags = dict(tags)

    def lookup(self, item_ids: Sequence[str], fetch: TagFetch) -> tuple[int, dict[str, Tags]] | None:
        """(revision, tags of every item asked), reading what is not cached; None
        if the revision kept moving under READS reads."""
        for _ in range(self.READS):
            with self._lock:
                rev = self.rev
                missing = list(item_ids) if rev is None else [i for i in item_ids if i not in self._tags]
                if not missing and rev is not None:
                    return rev, {i: self._tags[i] for i in item_ids}
            got_rev, got = fetch(missing)
            with self._lock:
                if got_rev != self.rev or len(self._tags) + len(got) > self.MAX_ITEMS:
                    self._tags.clear()  # another revision (or full): what was cached is gone
                    self.rev = got_rev
                self._tags.update(got)
                if all(i in self._tags for i in item_ids):  # else: read the rest under this revision
                    return got_rev, {i: self._tags[i] for i in item_ids}
        return None
