// Embeddings of the items $item_ids written by model $model_version (others are
// skipped: a run in progress may have written newer vectors before publishing).
//   embeddings: [[item_id, [float, ...]], ...]
// queries/falkordb/recs_embeddings.cypher returns the list as one toJSON() string.
UNWIND $item_ids AS item_id
MATCH (i:Item {id: item_id})
WHERE i.embedding IS NOT NULL AND i.model_version = $model_version
RETURN collect([i.id, i.embedding]) AS embeddings
