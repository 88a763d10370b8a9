// FalkorDB variant of snapshot_user_ids.cypher: the list as one toJSON() string.
MATCH (u:User)
WHERE u.model_version = $model_version OR u.recs_items IS NOT NULL
RETURN toJSON(collect(u.id)) AS rows_json
