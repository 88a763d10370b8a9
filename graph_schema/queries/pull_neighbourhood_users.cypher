// Incremental refresh, step 1: the sampled neighbours of the seed users $user_ids.
// For each item a seed interacted with, up to $per_item other users who interacted
// with it, the most recent first (INTERACTED.last_ts, ties by user id): deterministic,
// and the users active around the item lately are the ones whose vectors the move of
// that item affects most. Only interactions last touched at or after $since count.
//   user_ids: [user_id, ...] (no seeds; each neighbour once)
// pull_neighbourhood.cypher then pulls every interaction of seeds and neighbours.
UNWIND $user_ids AS seed_id
MATCH (:User {id: seed_id})-[s:INTERACTED]->(i:Item)
WHERE s.last_ts >= $since
WITH DISTINCT i
MATCH (v:User)-[r:INTERACTED]->(i)
WHERE r.last_ts >= $since AND NOT v.id IN $user_ids
WITH i, v.id AS peer_id, r.last_ts AS ts
ORDER BY ts DESC, peer_id
WITH i, collect(peer_id)[..$per_item] AS peers
UNWIND peers AS peer_id
RETURN collect(DISTINCT peer_id) AS user_ids
