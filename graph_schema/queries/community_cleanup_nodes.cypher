// Community nodes of versions no longer kept (the trend reads the kept ones).
MATCH (c:Community)
WHERE NOT c.model_version IN $keep
DETACH DELETE c
RETURN count(*) AS n
