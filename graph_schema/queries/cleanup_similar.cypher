// Drop item neighbourhoods of every version but the published one.
MATCH (:Item)-[r:SIMILAR_TO]->(:Item)
WHERE r.model_version <> $model_version
WITH r LIMIT $limit
DELETE r
RETURN count(*) AS deleted
