// Every item's tags, with the catalogue revision (read first; see item_tags.cypher),
// for a tag cache starting cold on a small catalogue: one read instead of one per
// batch until every item has been seen. Returns nothing when the catalogue has more
// than $max_items items (the cache then reads items as batches need them).
// tags: [item_id, interest_id, weight] per TAGGED edge; [item_id, null, null] for an
// item without tags.
// Text tags (source 'text') count only when written by the published model version.
OPTIONAL MATCH (c:Catalogue {id: 'catalogue'})
OPTIONAL MATCH (m:ModelRegistry {id: 'current'})
WITH coalesce(c.rev, 0) AS rev, m.model_version AS published
MATCH (n:Item)
WITH rev, published, count(n) AS items
WHERE items <= $max_items
MATCH (i:Item)
OPTIONAL MATCH (i)-[t:TAGGED]->(it:Interest)
WHERE coalesce(t.source, 'catalogue') <> 'text' OR t.model_version = published
RETURN rev, collect([i.id, it.id, t.weight]) AS tags
