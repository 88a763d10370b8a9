// FalkorDB variant of snapshot_users_of.cypher: the rows as one toJSON() string.
UNWIND $ids AS id
MATCH (u:User {id: id})
WHERE u.model_version = $model_version OR u.recs_items IS NOT NULL
RETURN toJSON(collect([u.id, CASE WHEN u.model_version = $model_version THEN u.embedding ELSE NULL END,
                       CASE WHEN $lists THEN u.recs_items END, CASE WHEN $lists THEN u.recs_scores END,
                       CASE WHEN $lists THEN u.recs_because END, u.recs_at])) AS rows_json
