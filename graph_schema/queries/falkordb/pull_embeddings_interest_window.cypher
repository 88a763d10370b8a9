// FalkorDB variant of pull_embeddings_interest_window: the window as one toJSON() string.
MATCH (n:Interest)
WHERE id(n) >= $lo AND id(n) < $hi AND n.embedding IS NOT NULL
RETURN toJSON(collect([n.id, n.embedding])) AS rows_json
