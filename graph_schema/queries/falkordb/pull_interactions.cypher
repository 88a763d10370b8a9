// FalkorDB variant of pull_interactions: one toJSON() string of
// [user_id, item_id, weight, count, first_ts, last_ts] rows (the client parses
// each returned value in Python, ~4x slower for 100k rows), and `r.last_ts + 0`
// keeps the planner off the INTERACTED.last_ts index, which it otherwise probes
// once per user (~20x slower on a full pull than a scan and filter).
MATCH (u:User)-[r:INTERACTED]->(i:Item)
WHERE r.last_ts + 0 >= $since AND ($user_ids IS NULL OR u.id IN $user_ids)
RETURN toJSON(collect([u.id, i.id, r.weight, r.count, r.first_ts, r.last_ts])) AS rows_json
