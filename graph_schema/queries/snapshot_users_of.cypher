// The user side of model $model_version's serving snapshot for the users $ids only
// (service/recs/model_snapshot.py: an incremental publish re-reads the users it re-fitted
// and carries the others forward from the previous snapshot), the same rows as
// snapshot_users.cypher: [[user_id, embedding (null unless $model_version wrote it),
// recs_items, recs_scores, recs_because, recs_at], ...] (a user without either: left out);
// with $lists false the three lists come back null (the caller has them already).
UNWIND $ids AS id
MATCH (u:User {id: id})
WHERE u.model_version = $model_version OR u.recs_items IS NOT NULL
RETURN collect([u.id, CASE WHEN u.model_version = $model_version THEN u.embedding ELSE NULL END,
                CASE WHEN $lists THEN u.recs_items END, CASE WHEN $lists THEN u.recs_scores END,
                CASE WHEN $lists THEN u.recs_because END, u.recs_at]) AS rows_json
