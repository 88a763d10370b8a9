"""A user's interest evidence over time, recomputed from the event log.

Each event adds weight × tag weight to each of its item's interests, decayed with tau —
the very fold ingest applies (graph_schema.decay), so the last point equals the graph's
live INTERESTED_IN evidence decayed to that time. Points are daily (coarser when the
history spans more than MAX_POINTS days), from the day of the first event to
`end_ms`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from graph_schema.decay import fold, value_at
from service.ingest.log_reads import LoggedEvent

DAY_MS = 86_400_000
MAX_POINTS = 400


@dataclass(frozen=True)
class Timeline:
    points_ms: list[int]  # the time of each point: the end of a day (epoch ms)
    evidence: dict[str, list[float]]  # interest id -> decayed evidence at each point

    def top(self, n: int) -> list[str]:
        """The `n` interests with the highest peak evidence, highest first."""
        return sorted(self.evidence, key=lambda i: (-max(self.evidence[i], default=0.0), i))[:n]


def daily_points(first_ms: int, end_ms: int) -> list[int]:
    """The ends of the days from `first_ms`'s UTC day to the one holding `end_ms`: every
    day, or every few days when there are more than MAX_POINTS."""
    start = first_ms - first_ms % DAY_MS
    days = max(1, -(-(end_ms - start) // DAY_MS))  # ceil
    step = max(1, -(-days // MAX_POINTS)) * DAY_MS
    return [start + k * step for k in range(1, -(-days * DAY_MS // step) + 1)]


def evidence_timeline(
    events: Sequence[LoggedEvent],
    tags: Mapping[str, Sequence[tuple[str, float]]],
    tau_ms: float,
    end_ms: int,
) -> Timeline:
    """The evidence of every interest the events touch, at each daily point up to `end_ms`."""
    ordered = sorted(events, key=lambda e: e.ts)
    if not ordered:
        return Timeline([], {})
    points = daily_points(ordered[0].ts, max(end_ms, ordered[-1].ts))
    state: dict[str, tuple[float, int]] = {}
    series: dict[str, list[float]] = {}
    n = 0
    for k, t in enumerate(points):
        while n < len(ordered) and ordered[n].ts <= t:
            e = ordered[n]
            for interest_id, tag_weight in tags.get(e.item_id, ()):
                ev, ev_ts = state.get(interest_id, (0.0, e.ts))
                state[interest_id] = fold(ev, ev_ts, e.weight * tag_weight, e.ts, tau_ms)
                series.setdefault(interest_id, [0.0] * k)
            n += 1
        for interest_id, (ev, ev_ts) in state.items():
            series[interest_id].append(round(value_at(ev, ev_ts, t, tau_ms), 6))
    return Timeline(points, series)
