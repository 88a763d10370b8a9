"""The quality gate: is this run good enough to publish, and what it records for the next one.

Full: compared with the published run's GATE_METRIC, if that was measured on the same
hold-out definition (HOLDOUT_VERSION). Incremental: only the neighbourhood was re-fitted,
so it is compared with the published vectors of the same users on the same hold-out
(Fit.reference; see training.holdout), not with the full run's number over everyone.
A run more than `gate_margin` below its reference is rejected unless forced; a rejected
run never moves the published pointer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from training.run import Fit, Mode, PublishedModel

log = logging.getLogger(__name__)

GATE_METRIC = "ndcg@20"
# The definition of the full run's hold-out, stored with its metrics: the gate compares
# only numbers measured on the same definition. 2: pulled rows sorted by id, so ties in
# first_ts are broken by item id on every engine (1: the engine's scan order). 3: the
# number is the learned blend's (training.combiner), not the GNN's alone. 4: a full run no
# longer starts from vectors that saw its hold-out (training.base_vectors): the numbers of
# the warm-started full runs before it were inflated.
HOLDOUT_VERSION = 4


@dataclass(frozen=True)
class GateVerdict:
    published_metric: float | None  # what the run was compared with (None: nothing comparable)
    record: dict[str, Any]  # the metrics publish_model records with the new version
    reason: str = ""  # why the run is rejected; empty when it may be published

    @property
    def accepted(self) -> bool:
        return not self.reason


def judge(
    mode: Mode,
    fit: Fit,
    counts: dict[str, int],
    t_ref: int,
    published: PublishedModel | None,
    margin: float,
    force: bool,
) -> GateVerdict:
    previous = published.metrics if published is not None else {}
    reference = _reference_metric(mode, fit, previous)
    record = metrics_record(mode, fit, counts, t_ref, previous)
    return GateVerdict(reference, record, "" if force else _rejection(fit.metrics, reference, margin))


def _reference_metric(mode: Mode, fit: Fit, previous: dict[str, Any]) -> float | None:
    if mode == "incremental":
        return fit.reference.get(GATE_METRIC) if fit.reference.get("users", 0) > 0 else None
    value = previous.get(GATE_METRIC)
    same_holdout = previous.get("holdout") == HOLDOUT_VERSION
    if value is not None and not same_holdout:
        log.info("quality gate skipped: the published run's hold-out was defined differently")
    return float(value) if value is not None and same_holdout else None


def _rejection(metrics: dict[str, float], reference: float | None, margin: float) -> str:
    ours = metrics.get(GATE_METRIC)
    worse = reference is not None and ours is not None and metrics.get("users", 0) > 0 and ours < reference - margin
    if not worse:
        return ""
    return (
        f"{GATE_METRIC} {ours:.4f} is more than {margin} below the published "
        f"{reference:.4f}; not published (use --force to publish anyway)"
    )


def metrics_record(
    mode: Mode, fit: Fit, counts: dict[str, int], t_ref: int, previous: dict[str, Any]
) -> dict[str, Any]:
    """The published metrics: a full run's own numbers; an incremental run keeps the last
    full run's numbers (the next full run's reference) and adds its own under "incremental"."""
    if mode == "incremental":
        record = {
            **previous,
            "incremental": {
                **fit.metrics,
                "baseline": fit.baseline,
                "reference": fit.reference,
                "counts": dict(counts),
            },
            "t_ref": max(t_ref, int(previous.get("t_ref") or 0)),
        }
    else:
        record = {
            **fit.metrics,
            "baseline": fit.baseline,
            "counts": dict(counts),
            "t_ref": t_ref,
            "holdout": HOLDOUT_VERSION,
        }
    record["mode"] = mode
    return record
