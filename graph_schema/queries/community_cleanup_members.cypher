// MEMBER_OF edges of other versions than the published one, at most $limit per call.
MATCH ()-[m:MEMBER_OF]->()
WHERE m.model_version <> $version
WITH m LIMIT $limit
DELETE m
RETURN count(*) AS n
