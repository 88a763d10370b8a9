// FalkorDB variant of recs_co_interaction.cypher: the same list as one toJSON()
// string (see falkordb/recs_profile.cypher for why).
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
RETURN toJSON(collect([rec.id, score, peers])) AS items
