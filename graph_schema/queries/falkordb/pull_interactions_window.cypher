// FalkorDB variant of pull_interactions_window: the window's rows as one toJSON() string,
// `r.last_ts + 0` keeping the planner off the INTERACTED.last_ts index.
MATCH (u:User)
WHERE id(u) >= $lo AND id(u) < $hi
OPTIONAL MATCH (u)-[r:INTERACTED]->(i:Item)
WHERE r.last_ts + 0 >= $since
RETURN toJSON(collect(CASE WHEN r IS NULL THEN null ELSE [u.id, i.id, r.weight, r.count, r.first_ts, r.last_ts] END)) AS rows_json
