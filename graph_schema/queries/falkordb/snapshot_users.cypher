// FalkorDB variant of snapshot_users.cypher: the page as one toJSON() string.
MATCH (u:User)
WHERE u.id > $after AND (u.model_version = $model_version OR u.recs_items IS NOT NULL)
WITH u ORDER BY u.id LIMIT $page
RETURN toJSON(collect([u.id, CASE WHEN u.model_version = $model_version THEN u.embedding ELSE NULL END,
                       u.recs_items, u.recs_scores, u.recs_because, u.recs_at])) AS rows_json
