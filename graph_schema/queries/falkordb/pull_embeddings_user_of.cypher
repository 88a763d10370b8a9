// FalkorDB variant of pull_embeddings_user_of: the vectors as one toJSON() string.
UNWIND $ids AS id
MATCH (n:User {id: id})
WHERE n.embedding IS NOT NULL
RETURN toJSON(collect([n.id, n.embedding])) AS rows_json
