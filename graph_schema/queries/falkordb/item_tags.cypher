// FalkorDB variant of item_tags: the tags as one toJSON() string (`tags_json`), far
// cheaper for the client to decode than a list of lists (a cold tag cache reads
// hundreds of items per batch).
OPTIONAL MATCH (c:Catalogue {id: 'catalogue'})
WITH coalesce(c.rev, 0) AS rev
UNWIND $item_ids AS item_id
OPTIONAL MATCH (:Item {id: item_id})-[t:TAGGED]->(it:Interest)
WITH rev, collect(CASE WHEN it IS NULL THEN NULL ELSE [item_id, it.id, coalesce(t.weight, 1.0)] END) AS tags
RETURN rev, toJSON(tags) AS tags_json
