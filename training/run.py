"""What every stage of one refresh shares: the run (RefreshPlan), the model it starts from
(PublishedModel), the phase clock (Phases) and what a fit hands on (Fit)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np

from graph_schema.clock import now_ms
from training.combiner import BlendChoice
from training.heap import release_freed
from training.options import RefreshOptions

if TYPE_CHECKING:
    from graph_schema.settings import Settings
    from training.store_protocol import RefreshStore

Mode = Literal["full", "incremental"]
MODES: tuple[Mode, ...] = ("full", "incremental")
T = TypeVar("T")


def new_model_version(now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class PublishedModel:
    """The model readers see when the run starts."""

    version: str
    published_at: int | None  # epoch ms
    metrics: dict[str, Any]  # what its run recorded (training.gate.metrics_record)
    similar_version: str | None = None  # whose SIMILAR_TO lists it serves (its own, or a predecessor's)

    @classmethod
    def from_row(cls, row: Mapping[str, Any] | None) -> PublishedModel | None:
        if not row:
            return None
        published_at = row.get("published_at")
        metrics = row.get("metrics")
        return cls(
            version=row["model_version"],
            published_at=int(published_at) if published_at is not None else None,
            metrics=dict(metrics) if isinstance(metrics, Mapping) else {},
            similar_version=row.get("similar_version") or row["model_version"],
        )

    @property
    def t_ref(self) -> int | None:
        """The newest interaction it was fitted on; None for a model published before runs recorded it."""
        value = self.metrics.get("t_ref")
        return int(value) if value is not None else None

    @property
    def new_since(self) -> int | None:
        """Interactions last touched from here on are newer than its fit (None: unknown)."""
        t_ref = self.t_ref
        return t_ref + 1 if t_ref is not None else None


@dataclass(frozen=True)
class RefreshPlan:
    """One refresh's fixed inputs, decided before anything is pulled."""

    version: str  # the model_version everything this run writes is tagged with
    options: RefreshOptions
    tau_days: float  # evidence decay (EVIDENCE_TAU_DAYS)
    since_ts: int | None  # only interactions touched from here on (REFRESH_WINDOW_DAYS), epoch ms
    published: PublishedModel | None

    @classmethod
    def start(
        cls,
        store: RefreshStore,
        settings: Settings,
        options: RefreshOptions | None,
        device: str,
        epochs: int | None,
        model_version: str | None,
    ) -> RefreshPlan:
        opts = (options or RefreshOptions.from_settings(settings)).for_run(device, epochs)
        published = PublishedModel.from_row(store.current_model())
        since = None
        if opts.window_days is not None:
            since = now_ms() - int(opts.window_days * 86_400_000)
        return cls(model_version or new_model_version(), opts, settings.evidence_tau_days, since, published)


class Phases:
    """Times each phase and tells the caller (progress display) when one starts."""

    def __init__(self, on_phase: Callable[[str], None] | None) -> None:
        self.seconds: dict[str, float] = {}
        self.on_phase = on_phase

    def run(self, name: str, fn: Callable[[], T]) -> T:
        if self.on_phase:
            self.on_phase(name)
        start = time.perf_counter()
        try:
            return fn()
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
            # the next phase starts from what is in use, not from this one's high-water mark
            release_freed()


@dataclass(frozen=True)
class Fit:
    """A fitted model: its vectors (rows in the TrainingData's index order) and its hold-out scores."""

    embeddings: dict[str, np.ndarray]  # label (user, item, interest) -> vectors
    metrics: dict[str, float]  # ours on the hold-out
    baseline: dict[str, float]  # popularity on the same hold-out
    device: str
    best_epoch: int = 0
    # incremental: the published vectors of the same users on the same hold-out (the gate's reference)
    reference: dict[str, float] = field(default_factory=dict)
    # incremental: the rows re-fitted, the only ones staged (publish_model carries every other)
    staged: dict[str, np.ndarray] | None = None
    # incremental: the neighbourhood's sizes; full: the rows warm-started per label
    counts: dict[str, int] = field(default_factory=dict)
    # full: the learned blend of the candidate sources; its ranking per user is written back
    blend: BlendChoice | None = None
    # the training curve, one row per epoch: epoch, loss and (on evaluated epochs) valid_* metrics
    # (training.train.TrainResult.history); () when the fit did not hand it on
    history: tuple[dict[str, float], ...] = ()
    # full: the GNN's base (layer-0) vectors by node id (training.train.base_tables), which
    # the next full run warm-starts from once this one is published (training.base_vectors)
    base: dict[str, Any] | None = None
    # full: the (user, item) pairs the GNN trained on, as node indexes (kept with `base`)
    trained: tuple[np.ndarray, np.ndarray] | None = None
