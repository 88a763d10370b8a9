// Drop item neighbourhoods of every version but the published one's: its own, or the
// ones it kept ($similar_version: the registry's similar_version).
MATCH (:Item)-[r:SIMILAR_TO]->(:Item)
WHERE r.model_version <> $model_version AND r.model_version <> $similar_version
WITH r LIMIT $limit
DELETE r
RETURN count(*) AS deleted
