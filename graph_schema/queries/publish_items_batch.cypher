// One batch of a batched publish: promote $limit items staged under $model_version.
MATCH (i:Item) WHERE i.next_model_version = $model_version
WITH i LIMIT $limit
SET i.embedding = i.next_embedding, i.model_version = i.next_model_version, i.refreshed_at = i.next_refreshed_at
SET i.next_embedding = null, i.next_model_version = null, i.next_refreshed_at = null
RETURN count(i) AS n
