// FalkorDB variant of snapshot_items.cypher: the page as one toJSON() string.
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
RETURN toJSON(collect([i.id, i.title, interests,
                CASE WHEN i.model_version = $model_version THEN i.embedding ELSE NULL END,
                neighbours])) AS rows_json
