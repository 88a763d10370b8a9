// FalkorDB's paging of published_user_strengths (as pull_interactions_window: a keyset
// page there scans and sorts every user after $after): the users of one window of
// internal node ids [$lo, $hi) that the run wrote. rows_json: one list of
// [user_id, interests, strengths].
MATCH (u:User)
WHERE id(u) >= $lo AND id(u) < $hi AND u.model_version = $model_version AND u.refreshed_at >= $refreshed_since
RETURN collect([u.id, u.top_interests, u.interest_strengths]) AS rows_json
