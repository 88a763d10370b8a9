"""BPR negative sampling (numpy): uniform over unseen items, optionally from the positive's interests.

Hard negatives are items that share an interest with the positive item: the model has to
learn more than "this genre or not", which sharpens ranking inside an interest.
"""

from __future__ import annotations

import numpy as np

from training.data import TrainingData


class NegativeSampler:
    def __init__(
        self,
        data: TrainingData,
        rng: np.random.Generator,
        hard_frac: float = 0.0,
        retries: int = 5,
        exposures: tuple[np.ndarray, np.ndarray] | None = None,
        exposed_frac: float = 0.0,
    ) -> None:
        """`exposures`: (user index, item index) pairs the user was shown and ignored, or
        disliked (service EventLog.exposures); `exposed_frac` of the draws of a user with
        any are taken from them (the harder negatives of issue 16), the rest as before."""
        self.n_items = data.n_items
        self.rng = rng
        self.hard_frac = hard_frac
        self.retries = retries
        self.exposed_frac = exposed_frac if exposures is not None and len(exposures[0]) else 0.0
        if self.exposed_frac > 0:
            assert exposures is not None
            order = np.argsort(exposures[0], kind="stable")
            self.exp_ptr = np.searchsorted(exposures[0][order], np.arange(data.n_users + 1))
            self.exp_item = exposures[1][order]
        # "has u seen i": a dense bit table when it is small (one lookup), else sorted keys,
        # searched only for the draws a hashed bit filter cannot rule out
        self.seen_keys = np.unique(data.user * self.n_items + data.item)
        self.seen_dense: np.ndarray | None = None
        self.seen_filter: SeenFilter | None = None
        if data.n_users * self.n_items <= 50_000_000:
            self.seen_dense = np.zeros((data.n_users, self.n_items), dtype=bool)
            self.seen_dense[data.user, data.item] = True
        elif len(self.seen_keys):
            self.seen_filter = SeenFilter(self.seen_keys)
        # CSR item -> interests and interest -> items for hard negatives
        order = np.argsort(data.tag_item, kind="stable")
        self.item_ptr = np.searchsorted(data.tag_item[order], np.arange(self.n_items + 1))
        self.item_int = data.tag_interest[order]
        order = np.argsort(data.tag_interest, kind="stable")
        self.int_ptr = np.searchsorted(data.tag_interest[order], np.arange(data.n_interests + 1))
        self.int_item = data.tag_item[order]

    def _seen(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        if self.seen_dense is not None:
            return self.seen_dense[users, items]
        keys = users * self.n_items + items
        if self.seen_filter is None:
            return self._search(keys)
        seen = np.zeros(len(keys), dtype=bool)
        maybe = self.seen_filter.may_contain(keys)
        seen[maybe] = self._search(keys[maybe])
        return seen

    def _search(self, keys: np.ndarray) -> np.ndarray:
        """Which of `keys` are seen pairs, by binary search of the sorted seen keys."""
        if not len(self.seen_keys):
            return np.zeros(len(keys), dtype=bool)
        # searched in ascending order: numpy's binary search starts each search from the
        # last one's bound when the needles ascend, so a sorted batch touches the table's
        # cache lines in one sweep (10M keys, 560k needles: 314 -> 62 ms, the sort included)
        order = np.argsort(keys)
        pos = np.empty(len(keys), dtype=np.intp)
        pos[order] = np.searchsorted(self.seen_keys, keys[order])
        pos = np.minimum(pos, len(self.seen_keys) - 1)
        return self.seen_keys[pos] == keys

    def _hard(self, pos_items: np.ndarray) -> np.ndarray:
        """An item sharing a random interest of each positive; uniform where it has none."""
        out = self.rng.integers(0, self.n_items, size=len(pos_items))
        n_int = self.item_ptr[pos_items + 1] - self.item_ptr[pos_items]
        has = n_int > 0
        if has.any():
            pick = self.item_ptr[pos_items[has]] + (self.rng.random(has.sum()) * n_int[has]).astype(np.int64)
            interest = self.item_int[pick]
            size = self.int_ptr[interest + 1] - self.int_ptr[interest]
            out[has] = self.int_item[self.int_ptr[interest] + (self.rng.random(has.sum()) * size).astype(np.int64)]
        return out

    def _exposed(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For users with exposures: (which of `users`, a random exposed item of each)."""
        n = self.exp_ptr[users + 1] - self.exp_ptr[users]
        has = np.flatnonzero(n > 0)
        pick = self.exp_ptr[users[has]] + (self.rng.random(len(has)) * n[has]).astype(np.int64)
        return has, self.exp_item[pick]

    def sample(self, users: np.ndarray, pos_items: np.ndarray, k: int = 1) -> np.ndarray:
        """(len(users), k) negative items, resampled (a few times) where the user has seen them."""
        users_k = np.repeat(users, k)
        pos_k = np.repeat(pos_items, k)
        neg = self.rng.integers(0, self.n_items, size=len(users_k))
        if self.hard_frac > 0:
            hard = self.rng.random(len(users_k)) < self.hard_frac
            neg[hard] = self._hard(pos_k[hard])
        if self.exposed_frac > 0:
            chosen = np.flatnonzero(self.rng.random(len(users_k)) < self.exposed_frac)
            which, items = self._exposed(users_k[chosen])
            neg[chosen[which]] = items
        todo = np.arange(len(neg))  # only redrawn entries are checked again
        for _ in range(self.retries):
            bad = todo[self._seen(users_k[todo], neg[todo])]
            if not len(bad):
                break
            neg[bad] = self.rng.integers(0, self.n_items, size=len(bad))
            todo = bad
        return neg.reshape(len(users), k)


class SeenFilter:
    """A one-hash bit filter over the seen (user, item) keys: no false negatives, ~5 % false
    positives at 16 bits a key. Nearly every negative drawn is unseen (0.08 % of the 1M-event
    graph's pairs are seen), so the exact search runs on the ~5 % the filter flags instead
    of on every draw: 560k draws against 700k keys 92 -> 11 ms, against 7M keys 113 -> 24 ms
    (bench/sampler.py). The draws, and so the training, are the same as without it."""

    BITS_PER_KEY = 16
    _MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: the top bits of key x 2^64/phi

    def __init__(self, keys: np.ndarray) -> None:
        log_bits = max(16, int(np.ceil(np.log2(self.BITS_PER_KEY * max(len(keys), 1)))))
        self._shift = np.uint64(64 - log_bits)
        self.table = np.zeros(1 << (log_bits - 3), dtype=np.uint8)
        slots = self._slots(keys)
        np.bitwise_or.at(self.table, slots >> 3, np.left_shift(1, slots & 7).astype(np.uint8))

    def _slots(self, keys: np.ndarray) -> np.ndarray:
        # uint64 products wrap modulo 2^64, which is the hash
        return ((keys.astype(np.uint64) * self._MULTIPLIER) >> self._shift).astype(np.int64)

    def may_contain(self, keys: np.ndarray) -> np.ndarray:
        """Indexes of `keys` that may be in the set (every one that is, and a few others)."""
        slots = self._slots(keys)
        return np.flatnonzero((self.table[slots >> 3] >> (slots & 7).astype(np.uint8)) & 1)
