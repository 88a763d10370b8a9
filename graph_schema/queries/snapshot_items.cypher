// One page of the serving snapshot of model $model_version (service/recs/model_snapshot.py):
// the next $page items after $after in id order (keyset pagination), each with its title,
// interest ids, its vector when model $model_version wrote it (else null), and its
// SIMILAR_TO neighbours of $similar_version, best first, at most $per_item.
//   rows_json: [[item_id, title, [interest_id, ...], embedding, [[other_id, score, via], ...]], ...]
//   (via: 'text' when the similarity comes from an item's text alone, else null)
// queries/falkordb/snapshot_items.cypher returns the same list as one toJSON() string.
MATCH (i:Item)
WHERE i.id > $after
WITH i ORDER BY i.id LIMIT $page
OPTIONAL MATCH (i)-[:TAGGED]->(t:Interest)
WITH i, collect(t.id) AS interests
OPTIONAL MATCH (i)-[r:SIMILAR_TO]->(b:Item)
WHERE r.model_version = $similar_version AND b <> i
WITH i, interests, r, b ORDER BY i.id, r.score DESC
WITH i, interests, collect(CASE WHEN b IS NULL THEN NULL ELSE [b.id, r.score, r.via] END)[..$per_item] AS neighbours
ORDER BY i.id
RETURN collect([i.id, i.title, interests,
                CASE WHEN i.model_version = $model_version THEN i.embedding ELSE NULL END,
                neighbours]) AS rows_json
