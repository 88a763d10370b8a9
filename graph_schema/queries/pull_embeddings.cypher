// Previous embeddings for warm start (any label that carries one).
MATCH (n)
WHERE n.embedding IS NOT NULL
RETURN labels(n)[0] AS label, n.id AS id, n.embedding AS embedding
