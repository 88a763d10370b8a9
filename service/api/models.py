"""Request and response models of the v1 API; the OpenAPI document is generated from them.

Events and catalogue records are validated one by one (service.ingest.schemas
EventIn / ItemIn with validate_each) so that one bad record does not sink a
batch: the batch models below only check the envelope and document the items
as EventIn / ItemIn (create_app points their `items` schemas at those models).
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from records.runs import RunStatus

NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"  # ids never carry control characters (see docs/api.md)
ID_FIELD = Field(min_length=1, max_length=200, pattern=NO_CONTROL)


class ApiModel(BaseModel):
    """Caches its JSON schema: flask-openapi3 asks for it on every request that
    has query parameters, and generating it costs about a millisecond."""

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        if args or kwargs:
            return super().model_json_schema(*args, **kwargs)
        return _cached_schema(cls)


@cache
def _cached_schema(cls: type[BaseModel]) -> dict[str, Any]:
    return BaseModel.model_json_schema.__func__(cls)  # type: ignore[attr-defined]


# --- ingest ------------------------------------------------------------------------
class EventBatch(ApiModel):
    model_config = ConfigDict(extra="forbid")
    events: list[Any] = Field(
        min_length=1, description="Validated one by one; bad events are reported, good ones accepted."
    )


class ItemBatch(ApiModel):
    model_config = ConfigDict(extra="forbid")
    items: list[Any] = Field(min_length=1, description="Catalogue records; interests named here are created if new.")


class Rejected(ApiModel):
    index: int = Field(description="Position of the record in the request's list.")
    error: str = Field(description="What is wrong with it.")


class IngestReport(ApiModel):
    accepted: int = Field(description="New records stored.")
    duplicates: int = Field(description="Records already seen (same event_id), or repeated in this batch.")
    rejected: list[Rejected]
    pending: int | None = Field(
        None, description="Events: accepted events not yet in the graph (the graph was unavailable); retried later."
    )


# --- users and recommendations ------------------------------------------------------
class UserPath(ApiModel):
    user_id: str = ID_FIELD


class ItemPath(ApiModel):
    item_id: str = ID_FIELD


class RecsQuery(ApiModel):
    model_config = ConfigDict(extra="forbid")
    k: int = Field(20, ge=1, le=100, description="How many items.")
    strategy: Literal["blend", "graph", "interest", "embedding", "random"] = Field(
        "blend", description="Ignored while an experiment runs: the user's arm decides."
    )
    exclude: str | None = Field(None, max_length=20_000, description="Comma-separated item ids never to return.")
    interest: str | None = Field(
        None, min_length=1, max_length=200, pattern=NO_CONTROL, description="Only items tagged with this interest id."
    )
    explain: bool = Field(True, description="Include reasons naming the evidence.")


class Evidence(ApiModel):
    model_config = ConfigDict(extra="allow")
    kind: Literal[
        "learned",
        "similar_item",
        "similar_description",
        "co_interaction",
        "interest",
        "embedding",
        "trending",
        "social",
    ]


class RecommendedItem(ApiModel):
    item_id: str
    title: str | None = None
    score: float
    position: int = Field(description="1-based position in this answer (report it with impressions and clicks).")
    reasons: list[str] = Field(description="Evidence in words, strongest first (empty when explain=false).")
    evidence: list[Evidence] = Field(default_factory=list, description="The same evidence as data (ids, names).")


class ExperimentArm(ApiModel):
    experiment_id: str
    arm: str


class Recommendations(ApiModel):
    user_id: str
    model_version: str | None = Field(description="Published model used, null before the first refresh.")
    rec_id: str = Field(description="Id of this answer: send it with the impression and click events it causes.")
    strategy: Literal["blend", "graph", "interest", "embedding", "random", "trending", "social"] = Field(
        description="Strategy applied: the requested one (or the experiment arm's), `blend` when `embedding` was "
        "asked for before embeddings exist, `social` for a user with no history of their own who follows people, "
        "`trending` for a cold start (unknown or history-less user following nobody)."
    )
    experiment: ExperimentArm | None = Field(None, description="The running experiment and the user's arm.")
    items: list[RecommendedItem]


class PeopleQuery(ApiModel):
    model_config = ConfigDict(extra="forbid")
    k: int = Field(20, ge=1, le=100, description="How many people.")


class PersonMayLike(ApiModel):
    user_id: str
    score: float
    reasons: list[str] = Field(description="Why, strongest first: friends of friends, shared interests, embedding.")


class People(ApiModel):
    user_id: str
    model_version: str | None
    items: list[PersonMayLike] = Field(description="Best first; never the user or someone they already follow.")


class SimilarQuery(ApiModel):
    model_config = ConfigDict(extra="forbid")
    k: int = Field(20, ge=1, le=100)


class SimilarItem(ApiModel):
    item_id: str
    title: str | None = None
    score: float
    reasons: list[str]


class SimilarItems(ApiModel):
    item_id: str
    model_version: str | None
    items: list[SimilarItem]


class UserInterest(ApiModel):
    interest_id: str
    name: str
    kind: str | None = None
    strength: float | None = Field(description="From the published model; null before any.")
    evidence: float = Field(description="Live decayed evidence as of now (moves with every event).")
    evidence_ts: int | None = Field(None, description="Epoch ms of the newest evidence.")
    updated_at: int | None = Field(description="Epoch ms: when the model wrote the strength, else the newest evidence.")


class UserInterests(ApiModel):
    user_id: str
    model_version: str | None
    interests: list[UserInterest]


class UserDeleted(ApiModel):
    user_id: str
    graph_user_removed: bool
    graph_relationships_removed: int
    events_removed: int
    relation_events_removed: int = Field(0, description="Follow/friend events by or about the user.")


# --- analyst Cypher ------------------------------------------------------------------
class CypherIn(ApiModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=100_000, description="Read-only Cypher; use $name parameters.")
    params: dict[str, Any] = Field(default_factory=dict, description="Query parameters (JSON values).")
    timeout_ms: int | None = Field(None, ge=1, description="Lower than the configured limit only.")
    limit: int | None = Field(None, ge=1, description="Row limit, lower than the configured one only.")


class CypherOut(ApiModel):
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool = Field(description="True when rows were cut at the row limit.")
    elapsed_ms: float


# --- jobs ------------------------------------------------------------------------------
class RefreshIn(ApiModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["full", "incremental"] = "incremental"
    force: bool = Field(False, description="Publish even if the quality gate would hold the model back.")


class RefreshAccepted(ApiModel):
    run_id: int
    status: str


class JobsQuery(ApiModel):
    model_config = ConfigDict(extra="forbid")
    limit: int = Field(20, ge=1, le=500)
    status: RunStatus | None = None


class RunPath(ApiModel):
    run_id: int = Field(ge=1, le=2**63 - 1)


class RefreshRunOut(ApiModel):
    run_id: int
    mode: str
    status: RunStatus
    trigger: str
    started_at: int
    finished_at: int | None
    duration_s: float | None
    phases: dict[str, Any]
    counts: dict[str, Any]
    metrics: dict[str, Any]
    device: str | None
    model_version: str | None
    forced: bool
    error: str | None


class RefreshRuns(ApiModel):
    runs: list[RefreshRunOut]


# --- health ------------------------------------------------------------------------------
class Health(ApiModel):
    status: Literal["ok"]


class Readiness(ApiModel):
    status: Literal["ready", "unavailable"]
    checks: dict[str, str]
    model_version: str | None = None
    pending_events: int | None = None


# --- interest communities -------------------------------------------------------------
class CommunitiesQuery(ApiModel):
    model_config = ConfigDict(extra="forbid")
    limit: int = Field(100, ge=1, le=1000, description="Most communities listed (largest first).")


class CommunityPath(ApiModel):
    community_id: str = ID_FIELD


class CommunityInterest(ApiModel):
    interest_id: str
    name: str
    share: float = Field(description="Share of the members' (relative) interest weight.")


class CommunitySummary(ApiModel):
    community_id: str
    size: int
    top_interests: list[CommunityInterest]


class CommunityList(ApiModel):
    model_version: str | None = Field(description="The version the communities were detected for; null: none yet.")
    communities: list[CommunitySummary]


class CommunityVersion(ApiModel):
    model_version: str
    size: int
    shares: dict[str, float] = Field(description="Interest id -> share, in that version (its top interests).")


class CommunityDetail(ApiModel):
    community_id: str
    model_version: str | None
    size: int
    top_interests: list[CommunityInterest]
    trend: list[CommunityVersion] = Field(description="The community in every kept version, oldest first.")


def _source_weight(source: str) -> Any:
    return Field(None, ge=0.0, le=10.0, description=f"Weight of the {source} source (0..10).")


class BlendIn(ApiModel):
    """Source weights of an experiment arm (omitted sources keep the strategy's)."""

    model_config = ConfigDict(extra="forbid")
    learned: float | None = _source_weight("learned ranking")
    graph: float | None = _source_weight("graph (similar items / co-interaction)")
    interest: float | None = _source_weight("interest")
    embedding: float | None = _source_weight("embedding")
    trending: float | None = _source_weight("trending")
    social: float | None = _source_weight("social")


class ArmIn(ApiModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=60, pattern=NO_CONTROL, description="A repeated name gets a #n suffix.")
    strategy: Literal["blend", "graph", "interest", "embedding", "random"]
    weight: float = Field(1.0, gt=0, le=1000, description="Share of the non-holdout traffic, relative to the others.")
    blend: BlendIn | None = Field(
        None,
        description="A blend setting: these sources' weights replace the strategy's for this arm's users, "
        'e.g. {"social": 0.0} or {"graph": 1.0, "embedding": 0.5}; sources the strategy does not use stay unused.',
    )
    model_version: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        pattern=NO_CONTROL,
        description="Pin this arm to a published model version: its users are served that version's vectors, "
        "learned rankings and similar items from its kept serving snapshot (the last RECS_SNAPSHOT_KEEP "
        "publishes; a pinned one is kept while the experiment runs). Omitted: the published model.",
    )


class ExperimentIn(ApiModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    arms: list[ArmIn] = Field(min_length=2, max_length=10, description="The first arm is the control.")
    holdout: float = Field(
        0.0, ge=0.0, le=0.5, description="Share of users served the default (blend), reported as arm `(holdout)`."
    )


class ExperimentPath(ApiModel):
    experiment_id: str = Field(min_length=1, max_length=64, pattern=NO_CONTROL)


class OnlineQuery(ApiModel):
    model_config = ConfigDict(extra="forbid")
    history: int = Field(1, ge=1, le=100, description="How many computed snapshots, newest first.")


class ExperimentOut(ApiModel):
    model_config = ConfigDict(extra="allow")
    experiment_id: str
    name: str
    arms: list[dict[str, Any]]
    holdout: float
    status: str


class OnlineMetrics(ApiModel):
    snapshots: list[dict[str, Any]] = Field(description="Newest first: {computed_at, groups: [per model/strategy]}.")
