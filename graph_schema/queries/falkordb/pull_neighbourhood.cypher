// FalkorDB variant of pull_neighbourhood: the same rows as one toJSON() string of
// [user_id, item_id, weight, count, first_ts, last_ts] (see falkordb/pull_interactions.cypher
// for why, and for `last_ts + 0`).
UNWIND $user_ids AS user_id
MATCH (u:User {id: user_id})-[r:INTERACTED]->(i:Item)
WHERE r.last_ts + 0 >= $since
RETURN toJSON(collect([u.id, i.id, r.weight, r.count, r.first_ts, r.last_ts])) AS rows_json
