// An item's published neighbours (SIMILAR_TO of model $model_version), best first.
MATCH (a:Item {id: $item_id})-[r:SIMILAR_TO]->(b:Item)
WHERE r.model_version = $model_version AND b <> a
RETURN b.id AS item_id, b.title AS title, r.score AS score
ORDER BY score DESC, item_id
LIMIT $k
