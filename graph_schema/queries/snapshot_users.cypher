// One page of the user side of model $model_version's serving snapshot
// (service/recs/model_snapshot.py), kept so that an experiment arm can pin this version
// after newer ones are published: the next $page users after $after in id order (keyset
// pagination) that have a vector of $model_version or a learned ranking, each with
//   rows_json: [[user_id, embedding (null unless $model_version wrote it),
//                recs_items, recs_scores, recs_because, recs_at], ...]
// queries/falkordb/snapshot_users.cypher returns the same list as one toJSON() string.
MATCH (u:User)
WHERE u.id > $after AND (u.model_version = $model_version OR u.recs_items IS NOT NULL)
WITH u ORDER BY u.id LIMIT $page
RETURN collect([u.id, CASE WHEN u.model_version = $model_version THEN u.embedding ELSE NULL END,
                u.recs_items, u.recs_scores, u.recs_because, u.recs_at]) AS rows_json
