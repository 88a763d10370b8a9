// Before any model is published: items of users who share the user's recent items.
// Bounded for latency: the $anchors most recent items, the $peers peers sharing
// most of them. `peer <> u` and the per-peer count(i) are explicit for FalkorDB
// (no relationship uniqueness; FalkorDB #2470 collapses 2-hop paths). The user's own
// items are not filtered here but by the caller (it has them already): checking
// NOT (u)-[:INTERACTED]->(rec) per row cost ~25% of the query.
//   items: [[item_id, score, peers], ...]  score = sum(shared * peer's weight)
// queries/falkordb/recs_co_interaction.cypher returns the list as one toJSON() string.
MATCH (u:User {id: $user_id})-[r:INTERACTED]->(i:Item)
WITH u, i, r ORDER BY r.last_ts DESC, r.weight DESC LIMIT $anchors
MATCH (i)<-[:INTERACTED]-(peer:User)
WHERE peer <> u
WITH u, peer, count(i) AS shared
ORDER BY shared DESC, peer.id
LIMIT $peers
MATCH (peer)-[r2:INTERACTED]->(rec:Item)
WITH rec, sum(shared * r2.weight) AS score, count(peer) AS peers
ORDER BY score DESC, rec.id
LIMIT $k
RETURN collect([rec.id, score, peers]) AS items
