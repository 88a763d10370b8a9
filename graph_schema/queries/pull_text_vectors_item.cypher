// The text vectors the last run stored on :Item nodes (training/text_sync.py), one page:
// the next $page with one after $after in id order. rows_json: one list of [id, vector].
MATCH (n:Item)
WHERE n.id > $after AND n.text_embedding IS NOT NULL
WITH n ORDER BY n.id LIMIT $page
RETURN collect([n.id, n.text_embedding]) AS rows_json
