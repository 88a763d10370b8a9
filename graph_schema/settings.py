"""All configuration, read from environment variables in one place.

Every field maps to an upper-case environment variable of the same name
(e.g. ``graph_uri`` <- ``GRAPH_URI``). docs/deploy.md lists them all.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_EVENT_WEIGHTS: dict[str, float] = {
    "view": 1.0,
    "click": 2.0,
    "cart": 4.0,
    "purchase": 8.0,
    # a rating's weight is its value (1..5) unless the event carries one
    "rating": 1.0,
    # feedback on served answers: kept in the event log, never a graph edge
    # (impressions are aggregated per (user, item) from the log; see LOG_ONLY_TYPES)
    "impression": 0.0,
    "dislike": -4.0,
    "not_interested": -2.0,
}
# Event types stored in the log only: no INTERACTED edge, not replayed into the graph.
# impression: the item was shown (high volume); dislike / not_interested: the item is
# never recommended to that user again.
LOG_ONLY_TYPES: frozenset[str] = frozenset({"impression", "dislike", "not_interested"})
NEGATIVE_TYPES: frozenset[str] = frozenset({"dislike", "not_interested"})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    # --- state and stores ---------------------------------------------------
    data_dir: Path = Field(Path("./data"), description="All local state: embedded graph, SQLite file.")
    graph_uri: str | None = Field(
        None,
        description="neo4j://, neo4j+s://, bolt:// -> Neo4j; unset or falkordb:// -> embedded FalkorDB.",
    )
    graph_name: str = Field("interest", description="Graph key (FalkorDB) to use.")
    neo4j_user: str = "neo4j"
    neo4j_password: str = ""
    neo4j_database: str = "neo4j"
    database_url: str | None = Field(
        None, description="SQLAlchemy URL for the event log, run history, jobs, API keys. Default: SQLite in DATA_DIR."
    )
    falkordb_appendfsync: str = Field("everysec", description="Embedded store AOF fsync policy: always|everysec|no.")
    falkordb_start_timeout_s: float = Field(20.0, description="Seconds for the embedded server to answer at all.")
    falkordb_load_timeout_s: float = Field(
        600.0, description="Seconds the embedded server may spend loading its data on start."
    )

    # --- ingestion and interest evidence ----------------------------------
    event_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS))
    evidence_tau_days: float = Field(30.0, description="Decay time constant of interest evidence, days.")
    batch_size: int = Field(5000, description="Rows per UNWIND batch written to the graph.")
    exposure_min_impressions: int = Field(
        3, ge=1, description="A full refresh draws negatives from items shown this often and never taken (or disliked)."
    )

    # --- refresh runs (records/) -------------------------------------------------
    refresh_lease_s: float = Field(
        120.0, gt=0, description="Refresh lease, s: renewed while a run lives; a killed run frees it within this."
    )

    # --- analyst Cypher ---------------------------------------------------------
    cypher_timeout_ms: int = 5000
    cypher_row_limit: int = 1000

    # --- refresh job (training/) ----------------------------------------------
    # TRAIN_*: unset keeps the trainer's tuned default (training/config.py, TrainConfig)
    train_dim: int | None = Field(None, description="Embedding size.")
    train_layers: int | None = Field(None, description="Propagation layers.")
    train_epochs: int | None = Field(None, description="Most training epochs (early stopping may end sooner).")
    train_seed: int | None = Field(None, description="Random seed (runs are reproducible).")
    train_patience: int | None = Field(
        None, ge=1, description="Epochs without a better validation metric before training stops."
    )
    refresh_window_days: float | None = Field(
        None, description="Train on interactions of the last N days (unset: all)."
    )
    refresh_nice: int = Field(
        10,
        ge=0,
        le=19,
        description="Niceness the refresh job's thread (and the training threads it starts) takes on, so that "
        "serving on the same host comes first; 0: unchanged.",
    )
    refresh_top_n_interests: int = Field(10, description="INTERESTED_IN strengths written per user.")
    refresh_similar_k: int = Field(20, description="SIMILAR_TO neighbours written per item.")
    refresh_similar_exact_max_items: int = Field(
        50_000,
        ge=0,
        description="SIMILAR_TO lists are exact up to this many items, approximate (faiss HNSW) beyond.",
    )
    refresh_lists_exact_max_items: int = Field(
        50_000,
        ge=0,
        description="Each user's learned list is ranked over every item up to this many items; beyond, "
        "when the learned blend has only low-rank sources (no EASE, no social component), over "
        "candidates from an approximate inner-product index (faiss IVF), exactly scored; users with a "
        "history longer than the list, or too few candidates, are still ranked over every item.",
    )
    refresh_pull_page: int = Field(
        2000,
        ge=1,
        description="Users (or previous vectors) per page of a full refresh's pull from the graph; "
        "only one page's rows are held as Python objects at a time.",
    )
    refresh_publish_batch: int = Field(
        50_000,
        ge=1,
        description="A graph of more users publishes a refresh in transactions of this many users "
        "(the pointer still moves last, at once); up to it, in one transaction.",
    )
    refresh_strength_alpha: float = Field(0.5, description="Weight of learned affinity vs evidence.")
    refresh_gate_margin: float = Field(0.01, description="Tolerated NDCG@20 drop vs the published run.")
    refresh_list_size: int = Field(
        100, ge=0, description="Items of each user's learned ranking written back (User.recs_items); 0: none."
    )
    refresh_ease_max_items: int = Field(
        10_000, ge=0, description="Largest catalogue the exact EASE source is fitted for (items² memory)."
    )
    strength_history_versions: int = Field(
        20,
        ge=0,
        description="Published model versions whose user strengths are kept in SQL for the console's chart "
        "(0: none recorded).",
    )
    refresh_eval_users: int = Field(
        10_000,
        ge=1,
        description="Users a refresh's hold-out metrics (the gate's number) are measured on, a full run's or an "
        "incremental run's: a fixed sample beyond that, so evaluation costs eval_users × items whatever the "
        "number of users.",
    )
    refresh_neighbours_per_item: int = Field(
        20,
        description="Incremental refresh: for each new item (no vector yet) a touched user reached, how many of "
        "its most recent users it is fitted against.",
    )
    refresh_dist_partitions: int = Field(
        0,
        ge=0,
        description="Full refresh: train over DGL's distributed graph in this many partitions, one DistGraph server "
        "and one trainer process each (training.distributed); 0: one process.",
    )
    refresh_dist_hosts: str | None = Field(
        None,
        description="Distributed training across machines: machine k's address, comma-separated, machine 0 being "
        "the refresh host as the others reach it; unset: every partition on this host.",
    )
    refresh_dist_workdir: str | None = Field(
        None, description="Where distributed training jobs are written: the same path on every machine; unset: TMPDIR."
    )
    refresh_dist_remote: str = Field(
        "ssh -tt -o BatchMode=yes {host} {command}",
        description="How the refresh host starts a process on machine {host}: {command} is one shell word.",
    )
    refresh_dist_port: int = Field(
        30050, description="Across machines: machine k's DGL server port is this + k; the trainers meet at + machines."
    )
    refresh_dist_timeout_s: float = Field(
        3600.0, gt=0, description="Longest distributed training; then every process is stopped and the run fails."
    )

    # --- item text (training/text.py, training/text_sync.py, training/text_tags.py) -----
    text_features: bool = Field(
        True,
        description="Refresh: embed item and interest text (all-MiniLM-L6-v2) and feed it to the GNN; "
        "without sentence-transformers installed the refresh runs without text and says so.",
    )
    text_tags: bool = Field(
        True,
        description="Refresh: write TAGGED {source: 'text'} edges proposed from text (needs TEXT_FEATURES); "
        "false: the catalogue opts out and the refresh removes the text tags it wrote.",
    )
    text_tag_threshold: float | None = Field(
        None,
        ge=-1.0,
        le=1.0,
        description="Cosine an item's text must reach with an interest's to be tagged; unset: chosen each "
        "refresh on the items whose catalogue tags are known (best F1).",
    )
    text_batch_size: int = Field(64, ge=1, description="Texts per batch of the text encoder.")
    text_precision: Literal["auto", "float32", "bfloat16"] = Field(
        "auto",
        description="The text encoder's arithmetic, and the GNN's text projection's: auto is bfloat16 on a "
        "CPU with native bfloat16 (AVX512-BF16 or AMX; the encoder ~2x faster, cosine 0.9999 to float32's "
        "vectors; the projection ~10x), float32 elsewhere.",
    )

    # --- social graph (training/communities.py, training/social.py) ------------------
    communities_enabled: bool = Field(
        True, description="Detect interest communities after each published full refresh."
    )
    community_resolution: float = Field(
        1.0, gt=0, description="Louvain resolution: above 1 favours smaller communities, below 1 larger ones."
    )
    community_seed: int = Field(42, description="Louvain's random seed (the same graph gives the same communities).")
    community_min_size: int = Field(3, ge=1, description="Smaller groups are not written as communities.")
    community_interest_weight: float = Field(
        0.5, ge=0, description="Weight of a shared strong interest against a follow (1) in the user-user graph."
    )
    community_versions: int = Field(20, ge=1, description="Versions of each community kept for its trend.")
    # read by the API's social source and by the refresh's social component of the learned
    # blend (training.social_source): one decay, so the blend learns the rule it serves
    recs_social_tau_days: float = Field(14.0, gt=0, description="Decay of the social source's evidence, days.")
    train_social_weight: float = Field(
        0.0,
        ge=0,
        description="Training: weight of user-user FOLLOWS edges as their own relation type in the GNN (0: off).",
    )

    @field_validator("falkordb_appendfsync")
    @classmethod
    def _fsync(cls, v: str) -> str:
        if v not in {"always", "everysec", "no"}:
            raise ValueError("FALKORDB_APPENDFSYNC must be always, everysec or no")
        return v

    @property
    def evidence_tau_ms(self) -> float:
        return self.evidence_tau_days * 86_400_000.0

    @property
    def backend(self) -> str:
        uri = (self.graph_uri or "").strip()
        if uri.startswith(("neo4j://", "neo4j+s://", "neo4j+ssc://", "bolt://", "bolt+s://", "bolt+ssc://")):
            return "neo4j"
        return "falkordb"

    @property
    def falkordb_dir(self) -> Path:
        uri = (self.graph_uri or "").strip()
        if uri.startswith("falkordb://") and len(uri) > len("falkordb://"):
            return Path(uri[len("falkordb://") :]).expanduser().resolve()
        if uri and "://" not in uri:  # a plain local path
            return Path(uri).expanduser().resolve()
        return (self.data_dir / "falkordb").resolve()

    @property
    def graph_key(self) -> str:
        """A short key of the graph this configuration names: local state kept per graph
        (serving snapshots, the text vector cache) lives under it, so graphs sharing a
        DATA_DIR never read each other's."""
        graph = f"{self.backend}|{self.graph_uri or ''}|{self.neo4j_database}|{self.graph_name}"
        return hashlib.sha1(graph.encode()).hexdigest()[:12]

    @property
    def text_cache_dir(self) -> Path:
        """The refresh's text vectors by text hash (training/text_cache.py): a cache, safe to delete."""
        return (self.data_dir / "text-vectors").resolve() / self.graph_key

    @property
    def base_vectors_dir(self) -> Path:
        """The last published full run's base vectors (training/base_vectors.py), the next
        full run's warm start: a cache, safe to delete (that run then trains from scratch)."""
        return (self.data_dir / "base-vectors").resolve() / self.graph_key

    @property
    def sql_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'interest_graph.sqlite3').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
