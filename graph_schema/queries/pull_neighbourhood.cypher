// Incremental refresh, step 1: every interaction last touched at or after $since of
// the seed users $user_ids, found through the User id index, one user at a time
// (pull_neighbourhood_peers.cypher is step 2).
// queries/falkordb/pull_neighbourhood.cypher returns the same rows as one toJSON() string.
UNWIND $user_ids AS user_id
MATCH (u:User {id: user_id})-[r:INTERACTED]->(i:Item)
WHERE r.last_ts >= $since
RETURN u.id AS user_id, i.id AS item_id, r.weight AS weight, r.count AS count,
       r.first_ts AS first_ts, r.last_ts AS last_ts
