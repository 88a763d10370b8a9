// Previous :User embeddings for warm start, one window (FalkorDB's paging of
// pull_embeddings_user, as pull_interactions_window): those with a vector whose internal
// node id is in [$lo, $hi). rows_json: one list of [id, embedding].
MATCH (n:User)
WHERE id(n) >= $lo AND id(n) < $hi AND n.embedding IS NOT NULL
RETURN collect([n.id, n.embedding]) AS rows_json
