// One batch of a batched publish: promote $limit interests staged under $model_version.
MATCH (t:Interest) WHERE t.next_model_version = $model_version
WITH t LIMIT $limit
SET t.embedding = t.next_embedding, t.model_version = t.next_model_version, t.refreshed_at = t.next_refreshed_at,
    t.strength = t.next_strength, t.trend = t.next_trend
SET t.next_embedding = null, t.next_model_version = null, t.next_refreshed_at = null,
    t.next_strength = null, t.next_trend = null
RETURN count(t) AS n
