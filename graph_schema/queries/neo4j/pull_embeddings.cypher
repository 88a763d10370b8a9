// Neo4j variant of pull_embeddings: one list value of [label, id, embedding] (see
// neo4j/pull_interactions.cypher).
MATCH (n)
WHERE n.embedding IS NOT NULL
RETURN collect([labels(n)[0], n.id, n.embedding]) AS rows_json
