// An item's published neighbours (SIMILAR_TO of model $model_version), best first.
OPTIONAL MATCH (m:ModelRegistry {id: 'current'})
// an incremental run keeps the SIMILAR_TO lists of the run before it: the published
// version's lists are those of m.similar_version (see publish_model.cypher)
WITH CASE WHEN m.model_version = $model_version THEN coalesce(m.similar_version, m.model_version)
          ELSE $model_version END AS similar_version
MATCH (a:Item {id: $item_id})-[r:SIMILAR_TO]->(b:Item)
WHERE r.model_version = similar_version AND b <> a
RETURN b.id AS item_id, b.title AS title, r.score AS score
ORDER BY score DESC, item_id
LIMIT $k
