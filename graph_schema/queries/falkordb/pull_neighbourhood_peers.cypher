// FalkorDB variant of pull_neighbourhood_peers: the same rows as one toJSON() string of
// [user_id, item_id, weight, count, first_ts, last_ts] (see falkordb/pull_interactions.cypher).
UNWIND $item_ids AS item_id
MATCH (v:User)-[r:INTERACTED]->(i:Item {id: item_id})
WHERE r.last_ts + 0 >= $since
WITH i, v, r ORDER BY r.last_ts DESC, v.id
WITH i, collect([v.id, r.weight, r.count, r.first_ts, r.last_ts])[..$per_item] AS peers
UNWIND peers AS p
RETURN toJSON(collect([p[0], i.id, p[1], p[2], p[3], p[4]])) AS rows_json
