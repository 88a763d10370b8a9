"""Order-independent exponentially decayed evidence.

State is a pair (evidence, evidence_ts). Evidence "as of" evidence_ts equals
sum_i w_i * exp(-(evidence_ts - t_i) / tau) with evidence_ts = max_i t_i, so
any arrival order of the same events yields the same pair. An event newer than
the state decays the state forward; an older one is decayed to the state's
time. A batch of events is folded into one (sum, max_ts) term the same way,
which is how the store applies a batch with a single MERGE per key.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


def fold(evidence: float, evidence_ts: int, w: float, ts: int, tau_ms: float) -> tuple[float, int]:
    """Add one (weight, time) term to an evidence state."""
    if ts >= evidence_ts:
        return evidence * math.exp(-(ts - evidence_ts) / tau_ms) + w, ts
    return evidence + w * math.exp(-(evidence_ts - ts) / tau_ms), evidence_ts


def fold_many(terms: Iterable[tuple[float, int]], tau_ms: float) -> tuple[float, int]:
    """Collapse (weight, ts) terms into one (evidence, evidence_ts) state."""
    terms = list(terms)
    if not terms:
        raise ValueError("fold_many needs at least one term")
    t_max = max(ts for _, ts in terms)
    return sum(w * math.exp(-(t_max - ts) / tau_ms) for w, ts in terms), t_max


def value_at(evidence: float, evidence_ts: int, now_ms: int, tau_ms: float) -> float:
    """Evidence decayed to `now_ms` (never grows for a future-dated state)."""
    return evidence * math.exp(-max(0, now_ms - evidence_ts) / tau_ms)
