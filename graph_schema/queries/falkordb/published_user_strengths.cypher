// FalkorDB variant of published_user_strengths.cypher: the page as one toJSON() string of
// [user_id, interests, strengths] rows (the client's per-value parsing took 1.2 s of 1.7 s
// for 8k users).
MATCH (u:User)
WHERE u.id > $after AND u.model_version = $model_version AND u.refreshed_at >= $refreshed_since
WITH u ORDER BY u.id LIMIT $limit
RETURN toJSON(collect([u.id, u.top_interests, u.interest_strengths])) AS rows_json
