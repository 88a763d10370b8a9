// FalkorDB variant of pull_embeddings: one toJSON() string of [label, id, embedding].
MATCH (n)
WHERE n.embedding IS NOT NULL
RETURN toJSON(collect([labels(n)[0], n.id, n.embedding])) AS rows_json
