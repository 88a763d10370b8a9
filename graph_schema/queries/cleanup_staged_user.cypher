// Drop properties staged (next_*) by runs that never published, except $model_version's.
MATCH (n:User)
WHERE n.next_model_version IS NOT NULL AND n.next_model_version <> $model_version
WITH n LIMIT $limit
SET n += $cleared
RETURN count(n) AS cleared
