// Published item neighbourhoods of the anchor items $item_ids: for each anchor,
// its SIMILAR_TO neighbours of model $model_version, best first, at most $per_item.
//   similar: [[anchor_id, [[item_id, score, via], ...]], ...]   via: 'text' or null
// queries/falkordb/recs_similar.cypher returns the same list as one toJSON() string.
OPTIONAL MATCH (m:ModelRegistry {id: 'current'})
// an incremental run keeps the SIMILAR_TO lists of the run before it: the published
// version's lists are those of m.similar_version (see publish_model.cypher)
WITH CASE WHEN m.model_version = $model_version THEN coalesce(m.similar_version, m.model_version)
          ELSE $model_version END AS similar_version
UNWIND $item_ids AS anchor_id
MATCH (a:Item {id: anchor_id})-[r:SIMILAR_TO]->(b:Item)
WHERE r.model_version = similar_version AND b <> a
WITH a, b, r ORDER BY r.score DESC
WITH a, collect([b.id, r.score, r.via])[..$per_item] AS neighbours
RETURN collect([a.id, neighbours]) AS similar
