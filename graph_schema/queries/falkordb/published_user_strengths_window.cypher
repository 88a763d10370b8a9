// FalkorDB variant of published_user_strengths_window: the window as one toJSON() string.
MATCH (u:User)
WHERE id(u) >= $lo AND id(u) < $hi AND u.model_version = $model_version AND u.refreshed_at >= $refreshed_since
RETURN toJSON(collect([u.id, u.top_interests, u.interest_strengths])) AS rows_json
