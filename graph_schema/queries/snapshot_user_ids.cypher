// The ids of the users the serving snapshot of model $model_version holds (those with a
// vector of it or a learned ranking: snapshot_users.cypher), in one list.
MATCH (u:User)
WHERE u.model_version = $model_version OR u.recs_items IS NOT NULL
RETURN collect(u.id) AS rows_json
