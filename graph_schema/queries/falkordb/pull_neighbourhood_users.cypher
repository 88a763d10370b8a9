// FalkorDB variant of pull_neighbourhood_users: `last_ts + 0` keeps the planner off the
// INTERACTED.last_ts index (see falkordb/pull_interactions.cypher; ~4x faster here).
UNWIND $user_ids AS seed_id
MATCH (:User {id: seed_id})-[s:INTERACTED]->(i:Item)
WHERE s.last_ts + 0 >= $since
WITH DISTINCT i
MATCH (v:User)-[r:INTERACTED]->(i)
WHERE r.last_ts + 0 >= $since AND NOT v.id IN $user_ids
WITH i, v.id AS peer_id, r.last_ts AS ts
ORDER BY ts DESC, peer_id
WITH i, collect(peer_id)[..$per_item] AS peers
UNWIND peers AS peer_id
RETURN collect(DISTINCT peer_id) AS user_ids
