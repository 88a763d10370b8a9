// Which items carry tags of a given source? $source is 'catalogue' (the catalogue's
// own tags) or 'text' (proposed by a refresh from the item's text, with the cosine as
// weight and the model version that wrote them); tags from before sources were recorded
// count as the catalogue's.
// params: {"source": "text", "limit": 100}
MATCH (i:Item)-[t:TAGGED]->(x:Interest)
WHERE coalesce(t.source, 'catalogue') = $source
RETURN i.id AS item_id, i.title AS title, x.id AS interest_id, t.weight AS weight,
       coalesce(t.source, 'catalogue') AS source, t.model_version AS model_version
ORDER BY item_id, interest_id
LIMIT $limit
