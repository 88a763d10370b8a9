// Items of users who share items with $user_id, weighted by overlap.
// The explicit `peer <> u` and the per-peer count(i) aggregation are needed on
// FalkorDB (no relationship uniqueness; FalkorDB #2470 collapses 2-hop paths).
MATCH (u:User {id: $user_id})-[:INTERACTED]->(i:Item)<-[:INTERACTED]-(peer:User)
WHERE peer <> u
WITH u, peer, count(i) AS shared
ORDER BY shared DESC, peer.id
LIMIT $peers
MATCH (peer)-[r:INTERACTED]->(rec:Item)
WHERE NOT (u)-[:INTERACTED]->(rec)
RETURN rec.id AS item_id, sum(shared * r.weight) AS score
ORDER BY score DESC, item_id
LIMIT $k
