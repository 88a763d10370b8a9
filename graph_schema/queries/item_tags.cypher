// The tags of some items, with the catalogue revision they belong to (read first:
// a revision read before the tags can only be older than them, which costs the
// ingest path a re-read, never a stale cache). One row; tags: [item_id, interest_id,
// weight] per TAGGED edge (an item without tags has none).
// Text tags (source 'text') count only when written by the published model version.
OPTIONAL MATCH (c:Catalogue {id: 'catalogue'})
OPTIONAL MATCH (m:ModelRegistry {id: 'current'})
WITH coalesce(c.rev, 0) AS rev, m.model_version AS published
UNWIND $item_ids AS item_id
OPTIONAL MATCH (:Item {id: item_id})-[t:TAGGED]->(it:Interest)
WHERE coalesce(t.source, 'catalogue') <> 'text' OR t.model_version = published
WITH rev, collect(CASE WHEN it IS NULL THEN NULL ELSE [item_id, it.id, coalesce(t.weight, 1.0)] END) AS tags
RETURN rev, tags
