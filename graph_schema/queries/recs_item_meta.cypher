// Title and interest ids of the items $item_ids (items missing from the worker's
// trending snapshot, needed for titles and the `interest=` filter).
UNWIND $item_ids AS item_id
MATCH (i:Item {id: item_id})
OPTIONAL MATCH (i)-[:TAGGED]->(t:Interest)
RETURN i.id AS item_id, i.title AS title, collect(t.id) AS interests
