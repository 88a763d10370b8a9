"""GET /v1/communities and GET /v1/communities/{id}: the interest communities the refresh
job detected (training/communities.py), with their top interests and trend."""

from __future__ import annotations

from typing import Any

from flask_openapi3 import APIBlueprint, Tag

from graph_schema.store.social import CommunityRow
from service.api import AUTH_ERRORS, responses
from service.api.deps import services
from service.api.models import CommunitiesQuery, CommunityDetail, CommunityList, CommunityPath
from service.auth import SECURITY, requires
from service.problems import not_found

bp = APIBlueprint(
    "communities", __name__, url_prefix="/v1/communities", abp_tags=[Tag(name="communities")], abp_security=SECURITY
)


def _interests(c: CommunityRow) -> list[dict[str, Any]]:
    return [{"interest_id": i, "name": n, "share": s} for i, n, s in zip(c.interests, c.names, c.shares, strict=False)]


@bp.get("", responses=responses({200: CommunityList}, *AUTH_ERRORS, 422, 503))
@requires("read")
def list_communities(query: CommunitiesQuery) -> dict[str, Any]:
    """The published interest communities, largest first, with their top interests."""
    rows = services().store().communities(query.limit)
    return {
        "model_version": rows[0].model_version if rows else None,
        "communities": [{"community_id": c.community_id, "size": c.size, "top_interests": _interests(c)} for c in rows],
    }


@bp.get("/<community_id>", responses=responses({200: CommunityDetail}, *AUTH_ERRORS, 404, 422, 503))
@requires("read")
def community(path: CommunityPath) -> dict[str, Any]:
    """One community: its newest version's size and top interests, and each kept
    version's interest shares (the trend across published versions)."""
    history = services().store().community_history(path.community_id)
    if not history:
        raise not_found("community", path.community_id)
    last = history[-1]
    return {
        "community_id": path.community_id,
        "model_version": last.model_version,
        "size": last.size,
        "top_interests": _interests(last),
        "trend": [
            {"model_version": c.model_version, "size": c.size, "shares": dict(zip(c.interests, c.shares, strict=False))}
            for c in history
        ],
    }
