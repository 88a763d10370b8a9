"""The knobs of a refresh (RefreshOptions), read from the settings.

Each REFRESH_* knob's default is stated once, in graph_schema.settings.Settings, and a
TRAIN_* knob left unset keeps the trainer's tuned default (training.config.TrainConfig).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from graph_schema.settings import Settings
from training.config import Cluster, TrainConfig


def _setting_default(name: str) -> Any:
    """The default of a settings field, so RefreshOptions built directly (tests, benches) agree with it."""
    return Settings.model_fields[name].default


@dataclass(frozen=True)
class RefreshOptions:
    window_days: float | None = _setting_default("refresh_window_days")  # None: every interaction
    top_n_interests: int = _setting_default("refresh_top_n_interests")
    similar_k: int = _setting_default("refresh_similar_k")
    similar_exact_max_items: int = _setting_default("refresh_similar_exact_max_items")
    lists_exact_max_items: int = _setting_default("refresh_lists_exact_max_items")
    pull_page: int = _setting_default("refresh_pull_page")  # users / vectors per page of a full pull
    publish_batch: int = _setting_default("refresh_publish_batch")  # users per publish transaction
    strength_alpha: float = _setting_default("refresh_strength_alpha")
    gate_margin: float = _setting_default("refresh_gate_margin")
    # incremental fold-in: Adam steps of `foldin_batch` sampled interactions (chosen on
    # MovieLens-100K with real held-out events, see training.foldin); not settings
    foldin_steps: int = 50
    foldin_batch: int = 8192
    foldin_lr: float = 0.01
    neighbours_per_item: int = _setting_default("refresh_neighbours_per_item")
    list_size: int = _setting_default("refresh_list_size")  # the learned ranking per user (training.combiner)
    ease_max_items: int = _setting_default("refresh_ease_max_items")
    eval_users: int = _setting_default("refresh_eval_users")
    # the learned blend's social component decays like the API's social source
    social_tau_days: float = _setting_default("recs_social_tau_days")
    text_features: bool = _setting_default("text_features")
    text_tags: bool = _setting_default("text_tags")
    text_tag_threshold: float | None = _setting_default("text_tag_threshold")
    text_batch_size: int = _setting_default("text_batch_size")
    text_precision: str = _setting_default("text_precision")
    train: TrainConfig = field(default_factory=lambda: TrainConfig(progress=False))

    @classmethod
    def from_settings(cls, settings: Settings) -> RefreshOptions:
        """REFRESH_* knobs as set (or defaulted) in the settings; a TRAIN_* knob only when set."""
        tuned = {
            "dim": settings.train_dim,
            "layers": settings.train_layers,
            "epochs": settings.train_epochs,
            "seed": settings.train_seed,
            "patience": settings.train_patience,
        }
        return cls(
            window_days=settings.refresh_window_days,
            top_n_interests=settings.refresh_top_n_interests,
            similar_k=settings.refresh_similar_k,
            similar_exact_max_items=settings.refresh_similar_exact_max_items,
            lists_exact_max_items=settings.refresh_lists_exact_max_items,
            pull_page=settings.refresh_pull_page,
            publish_batch=settings.refresh_publish_batch,
            strength_alpha=settings.refresh_strength_alpha,
            gate_margin=settings.refresh_gate_margin,
            neighbours_per_item=settings.refresh_neighbours_per_item,
            list_size=settings.refresh_list_size,
            ease_max_items=settings.refresh_ease_max_items,
            eval_users=settings.refresh_eval_users,
            social_tau_days=settings.recs_social_tau_days,
            text_features=settings.text_features,
            text_tags=settings.text_tags,
            text_tag_threshold=settings.text_tag_threshold,
            text_batch_size=settings.text_batch_size,
            text_precision=settings.text_precision,
            train=_with_social(
                replace(
                    cls().train,
                    text_precision=settings.text_precision,
                    **_distributed(settings),
                    **{name: value for name, value in tuned.items() if value is not None},
                ),
                settings.train_social_weight,
            ),
        )

    def for_run(self, device: str, epochs: int | None) -> RefreshOptions:
        """These options with the caller's device and, if given, epochs (CLI flags beat settings)."""
        train = replace(self.train, device=device, **({"epochs": epochs} if epochs is not None else {}))
        return replace(self, train=train)


def _distributed(settings: Settings) -> dict[str, Any]:
    """TrainConfig's distributed and cluster from the REFRESH_DIST_* settings: with hosts,
    one partition per host (REFRESH_DIST_PARTITIONS, if set, must agree)."""
    hosts = tuple(h.strip() for h in (settings.refresh_dist_hosts or "").split(",") if h.strip())
    parts = settings.refresh_dist_partitions or len(hosts)
    if hosts and parts != len(hosts):
        raise ValueError(f"REFRESH_DIST_PARTITIONS={parts} but REFRESH_DIST_HOSTS lists {len(hosts)} machines")
    cluster = Cluster(
        hosts=hosts,
        workdir=settings.refresh_dist_workdir or "",
        remote=settings.refresh_dist_remote,
        port=settings.refresh_dist_port,
        timeout_s=settings.refresh_dist_timeout_s,
    )
    return {"distributed": parts, "cluster": cluster}


def _with_social(train: TrainConfig, weight: float) -> TrainConfig:
    """TRAIN_SOCIAL_WEIGHT > 0: the FOLLOWS ties join the graph as their own relation type."""
    return replace(train, graph=replace(train.graph, social_weight=weight)) if weight > 0 else train
