// FalkorDB variant of catalogue_tags: the tags as one toJSON() string (`tags_json`).
OPTIONAL MATCH (c:Catalogue {id: 'catalogue'})
WITH coalesce(c.rev, 0) AS rev
MATCH (n:Item)
WITH rev, count(n) AS items
WHERE items <= $max_items
MATCH (i:Item)
OPTIONAL MATCH (i)-[t:TAGGED]->(it:Interest)
RETURN rev, toJSON(collect([i.id, it.id, t.weight])) AS tags_json
