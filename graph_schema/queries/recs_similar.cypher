// Published item neighbourhoods of the anchor items $item_ids: for each anchor,
// its SIMILAR_TO neighbours of model $model_version, best first, at most $per_item.
//   similar: [[anchor_id, [[item_id, score], ...]], ...]
// queries/falkordb/recs_similar.cypher returns the same list as one toJSON() string.
UNWIND $item_ids AS anchor_id
MATCH (a:Item {id: anchor_id})-[r:SIMILAR_TO]->(b:Item)
WHERE r.model_version = $model_version AND b <> a
WITH a, b, r ORDER BY r.score DESC
WITH a, collect([b.id, r.score])[..$per_item] AS neighbours
RETURN collect([a.id, neighbours]) AS similar
