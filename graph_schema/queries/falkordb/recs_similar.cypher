// FalkorDB variant of recs_similar.cypher: the same list as one toJSON() string
// (see falkordb/recs_profile.cypher for why).
UNWIND $item_ids AS anchor_id
MATCH (a:Item {id: anchor_id})-[r:SIMILAR_TO]->(b:Item)
WHERE r.model_version = $model_version AND b <> a
WITH a, b, r ORDER BY r.score DESC
WITH a, collect([b.id, r.score])[..$per_item] AS neighbours
RETURN toJSON(collect([a.id, neighbours])) AS similar
