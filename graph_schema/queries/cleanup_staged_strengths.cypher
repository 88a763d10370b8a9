// Drop strengths staged (next_*) by runs that never published, except $model_version's.
MATCH (:User)-[r:INTERESTED_IN]->(:Interest)
WHERE r.next_model_version IS NOT NULL AND r.next_model_version <> $model_version
WITH r LIMIT $limit
SET r.next_strength = null, r.next_updated_at = null, r.next_model_version = null
RETURN count(r) AS cleared
