// FalkorDB variant of snapshot_items_plain.cypher: the page as one toJSON() string.
MATCH (i:Item)
WHERE i.id > $after
WITH i ORDER BY i.id LIMIT $page
OPTIONAL MATCH (i)-[:TAGGED]->(t:Interest)
WITH i, collect(t.id) AS interests
ORDER BY i.id
RETURN toJSON(collect([i.id, i.title, interests,
                CASE WHEN $vectors AND i.model_version = $model_version THEN i.embedding ELSE NULL END,
                []])) AS rows_json
