// FalkorDB variant of pull_text_vectors_interest: the page as one toJSON() string.
MATCH (n:Interest)
WHERE n.id > $after AND n.text_embedding IS NOT NULL
WITH n ORDER BY n.id LIMIT $page
RETURN toJSON(collect([n.id, n.text_embedding])) AS rows_json
