// snapshot_items.cypher without the SIMILAR_TO neighbours (each row's last value an empty
// list): an incremental publish keeps the lists of the snapshot it follows. $vectors false:
// no vectors either (null), when the snapshot carries them from the one it follows.
MATCH (i:Item)
WHERE i.id > $after
WITH i ORDER BY i.id LIMIT $page
OPTIONAL MATCH (i)-[:TAGGED]->(t:Interest)
WITH i, collect(t.id) AS interests
ORDER BY i.id
RETURN collect([i.id, i.title, interests,
                CASE WHEN $vectors AND i.model_version = $model_version THEN i.embedding ELSE NULL END,
                []]) AS rows_json
