// Titles of the items $item_ids (an item may have none).
UNWIND $item_ids AS item_id
MATCH (i:Item {id: item_id})
RETURN i.id AS item_id, i.title AS title
