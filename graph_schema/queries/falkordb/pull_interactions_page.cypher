// FalkorDB variant of pull_interactions_page: the page's rows as one toJSON() string
// (see falkordb/pull_interactions.cypher), `r.last_ts + 0` keeping the planner off the
// INTERACTED.last_ts index.
MATCH (u:User)
WHERE u.id > $after
WITH u ORDER BY u.id LIMIT $page
WITH collect(u) AS users
WITH users, last(users).id AS last
UNWIND users AS u
OPTIONAL MATCH (u)-[r:INTERACTED]->(i:Item)
WHERE r.last_ts + 0 >= $since
RETURN last, toJSON(collect(CASE WHEN r IS NULL THEN null ELSE [u.id, i.id, r.weight, r.count, r.first_ts, r.last_ts] END)) AS rows_json
