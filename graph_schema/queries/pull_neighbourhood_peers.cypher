// Incremental refresh, step 2: the context the moved items are re-fitted against. For
// each item in $item_ids (the items the seeds' new interactions reached), the INTERACTED
// edges of its $per_item most recent users (INTERACTED.last_ts, ties by user id; seeds
// included, the caller drops their rows, which step 1 already pulled). Only the edge to
// that item is pulled, not the peer's other interactions: peers keep their published
// vectors, so the pull grows with the items moved, not with their users' histories.
// queries/falkordb/pull_neighbourhood_peers.cypher returns the same rows as one toJSON() string.
UNWIND $item_ids AS item_id
MATCH (v:User)-[r:INTERACTED]->(i:Item {id: item_id})
WHERE r.last_ts >= $since
WITH i, v, r ORDER BY r.last_ts DESC, v.id
WITH i, collect([v.id, r.weight, r.count, r.first_ts, r.last_ts])[..$per_item] AS peers
UNWIND peers AS p
RETURN p[0] AS user_id, i.id AS item_id, p[1] AS weight, p[2] AS count, p[3] AS first_ts, p[4] AS last_ts
