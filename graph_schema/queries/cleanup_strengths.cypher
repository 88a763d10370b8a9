// Clear strengths written by versions other than the published one.
MATCH (:User)-[r:INTERESTED_IN]->(:Interest)
WHERE r.model_version IS NOT NULL AND r.model_version <> $model_version
WITH r LIMIT $limit
SET r.strength = null, r.model_version = null, r.updated_at = null
RETURN count(*) AS cleared
