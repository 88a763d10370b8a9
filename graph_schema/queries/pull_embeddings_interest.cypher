// Previous :Interest embeddings for warm start, one page: the next $page with a vector after
// $after in id order (keyset pagination). rows_json: one list of [id, embedding].
MATCH (n:Interest)
WHERE n.id > $after AND n.embedding IS NOT NULL
WITH n ORDER BY n.id LIMIT $page
RETURN collect([n.id, n.embedding]) AS rows_json
