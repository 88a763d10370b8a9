"""Two-proportion test for click-through rates (normal approximation)."""

from __future__ import annotations

import math
from dataclasses import dataclass

Z_95 = 1.959963984540054
# Below this many impressions (or clicks + non-clicks) per arm the normal
# approximation is not trusted: the report says "too small to tell".
MIN_IMPRESSIONS = 100
MIN_SUCCESSES = 5


@dataclass(frozen=True)
class Comparison:
    difference: float  # rate(arm) - rate(control)
    ci_low: float
    ci_high: float
    z: float
    p_value: float
    verdict: str  # better | worse | no significant difference | too small to tell


def _normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def compare(clicks_a: int, shown_a: int, clicks_c: int, shown_c: int) -> Comparison:
    """Arm a against control c: the difference of rates with its 95 % Wald interval,
    and the pooled two-proportion z-test (two-sided p-value)."""
    pa = clicks_a / shown_a if shown_a else 0.0
    pc = clicks_c / shown_c if shown_c else 0.0
    diff = pa - pc
    small = (
        min(shown_a, shown_c) < MIN_IMPRESSIONS
        or min(clicks_a + clicks_c, shown_a + shown_c - clicks_a - clicks_c) < MIN_SUCCESSES
    )
    if not shown_a or not shown_c:
        return Comparison(diff, -1.0, 1.0, 0.0, 1.0, "too small to tell")
    se = math.sqrt(pa * (1 - pa) / shown_a + pc * (1 - pc) / shown_c)
    pooled = (clicks_a + clicks_c) / (shown_a + shown_c)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / shown_a + 1 / shown_c))
    z = diff / se0 if se0 > 0 else 0.0
    p = 2 * _normal_sf(abs(z))
    low, high = diff - Z_95 * se, diff + Z_95 * se
    if small:
        verdict = "too small to tell"
    elif p < 0.05:
        verdict = "better" if diff > 0 else "worse"
    else:
        verdict = "no significant difference"
    return Comparison(diff, low, high, z, p, verdict)


__all__ = ["MIN_IMPRESSIONS", "Comparison", "compare"]
