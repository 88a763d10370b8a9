// Trending items: popularity decayed with time constant $tau_ms, measured from
// the newest interaction in the graph (t_ref) so a historical data set still has
// a meaningful ranking; relative to t_ref or to now the order is the same.
// Each INTERACTED edge contributes weight * exp(-(t_ref - last_ts) / tau).
// Served from a per-worker snapshot refreshed every RECS_CACHE_S seconds.
MATCH ()-[r0:INTERACTED]->()
WITH max(r0.last_ts) AS t_ref
MATCH (:User)-[r:INTERACTED]->(i:Item)
WITH i, sum(r.weight * exp(-1.0 * (t_ref - r.last_ts) / $tau_ms)) AS score, count(r) AS users
ORDER BY score DESC, i.id
LIMIT $limit
OPTIONAL MATCH (i)-[:TAGGED]->(t:Interest)
RETURN i.id AS item_id, i.title AS title, score, users, collect(t.id) AS interests
ORDER BY score DESC, item_id
