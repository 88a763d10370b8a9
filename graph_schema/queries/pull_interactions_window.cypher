// Training pull, one window (FalkorDB's paging of pull_interactions_page; Neo4j keeps
// the keyset pages, which its ordered index serves): the interactions (last touched at or
// after $since, epoch ms) of the users whose internal node id is in [$lo, $hi). FalkorDB
// sorts every remaining user for a keyset page's ORDER BY, so keyset pages cost
// users^2 / page in all; a window is an id range seek. rows_json: one list of
// [user_id, item_id, weight, count, first_ts, last_ts].
MATCH (u:User)
WHERE id(u) >= $lo AND id(u) < $hi
OPTIONAL MATCH (u)-[r:INTERACTED]->(i:Item)
WHERE r.last_ts >= $since
RETURN collect(CASE WHEN r IS NULL THEN null ELSE [u.id, i.id, r.weight, r.count, r.first_ts, r.last_ts] END) AS rows_json
