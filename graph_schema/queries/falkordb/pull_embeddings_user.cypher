// FalkorDB variant of pull_embeddings_user: the page as one toJSON() string.
MATCH (n:User)
WHERE n.id > $after AND n.embedding IS NOT NULL
WITH n ORDER BY n.id LIMIT $page
RETURN toJSON(collect([n.id, n.embedding])) AS rows_json
