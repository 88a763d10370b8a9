// The previous :User embeddings of the users $ids (an incremental refresh re-fits its seeds
// and fits new items against its peers: it needs their vectors, not everyone's).
// rows_json: one list of [id, embedding], users without a vector left out.
UNWIND $ids AS id
MATCH (n:User {id: id})
WHERE n.embedding IS NOT NULL
RETURN collect([n.id, n.embedding]) AS rows_json
