// FalkorDB variant of pull_interactions: `r.last_ts + 0` keeps the planner off
// the INTERACTED.last_ts index, which it otherwise probes once per user
// (~20x slower on a full pull than a scan and filter).
MATCH (u:User)-[r:INTERACTED]->(i:Item)
WHERE r.last_ts + 0 >= $since AND ($user_ids IS NULL OR u.id IN $user_ids)
RETURN u.id AS user_id, i.id AS item_id, r.weight AS weight, r.count AS count,
       r.first_ts AS first_ts, r.last_ts AS last_ts
