// FalkorDB variant of recs_embeddings.cypher: the same list as one toJSON() string
// (64 floats per item are ~1 ms of client-side parsing each otherwise).
UNWIND $item_ids AS item_id
MATCH (i:Item {id: item_id})
WHERE i.embedding IS NOT NULL AND i.model_version = $model_version
RETURN toJSON(collect([i.id, i.embedding])) AS embeddings
