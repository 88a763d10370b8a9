// Items co-interacted with $item_id (before a model, or when the model has no
// neighbours for it): the $users most recent users of the item, their other
// items counted per item, normalised by sqrt(popularity) so that blockbusters
// do not top every list. `b <> a` is explicit for FalkorDB.
MATCH (a:Item {id: $item_id})<-[r:INTERACTED]-(u:User)
WITH a, u ORDER BY r.last_ts DESC LIMIT $users
MATCH (u)-[:INTERACTED]->(b:Item)
WHERE b <> a
WITH b, count(u) AS shared
ORDER BY shared DESC, b.id
LIMIT $candidates
MATCH (b)<-[:INTERACTED]-(v:User)
WITH b, shared, count(v) AS popularity
RETURN b.id AS item_id, b.title AS title, shared,
       toFloat(shared) / sqrt(toFloat(popularity)) AS score
ORDER BY score DESC, item_id
LIMIT $k
