// The tags of some items, with the catalogue revision they belong to (read first:
// a revision read before the tags can only be older than them, which costs the
// ingest path a re-read, never a stale cache). One row; tags: [item_id, interest_id,
// weight] per TAGGED edge (an item without tags has none).
OPTIONAL MATCH (c:Catalogue {id: 'catalogue'})
WITH coalesce(c.rev, 0) AS rev
UNWIND $item_ids AS item_id
OPTIONAL MATCH (:Item {id: item_id})-[t:TAGGED]->(it:Interest)
WITH rev, collect(CASE WHEN it IS NULL THEN NULL ELSE [item_id, it.id, coalesce(t.weight, 1.0)] END) AS tags
RETURN rev, tags
