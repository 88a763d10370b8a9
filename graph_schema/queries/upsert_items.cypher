// Catalogue upsert. $rows are unique per item_id (the store keeps the last).
//   row: {item_id, props: {title, ...scalar attributes}, interests: [{id, name, kind, weight}]}
// The record is the item's current state: catalogue tags not listed any more are removed
// (TAGGED {source: 'catalogue'}; a refresh's text tags, source 'text', are its own, but one
// the catalogue now lists is removed with them: the pair is a catalogue tag from now on).
// Catalogue.rev moves on with every upsert: ingestion caches the items' tags and
// applies a batch only under the revision it read them at (apply_interactions.cypher).
// Strictly increasing; microseconds with a random low part, so a wiped and rebuilt
// catalogue does not repeat a revision.
MERGE (c:Catalogue {id: 'catalogue'})
SET c.rev = CASE WHEN c.rev IS NULL OR c.rev < timestamp() * 1000
                 THEN timestamp() * 1000 + toInteger(rand() * 1000) ELSE c.rev + 1 END
// items_rev moves only here and in upsert_interests.cypher (text-tag writes move rev too):
// the catalogue's own revision, which a refresh's text tags and its text vector cache record
// they were made at (mark_text_tags.cypher, training/text_cache.py)
SET c.items_rev = CASE WHEN c.items_rev IS NULL OR c.items_rev < c.rev THEN c.rev ELSE c.items_rev + 1 END
WITH count(c) AS bumped
UNWIND $rows AS row
MERGE (i:Item {id: row.item_id})
SET i += row.props
WITH i, row
// A tag from before sources were recorded (no source) is removed too, and re-created below
// as source 'catalogue' if the record still lists it (readers take no source as 'catalogue').
OPTIONAL MATCH (i)-[old:TAGGED]->(x:Interest)
WHERE CASE WHEN old.source = 'text' THEN x.id IN [tag IN row.interests | tag.id]
           WHEN old.source IS NULL THEN true
           ELSE NOT x.id IN [tag IN row.interests | tag.id] END
DELETE old
WITH DISTINCT i, row
UNWIND row.interests AS tag
MERGE (t:Interest {id: tag.id})
ON CREATE SET t.name = coalesce(tag.name, tag.id), t.kind = coalesce(tag.kind, 'tag')
MERGE (i)-[r:TAGGED {source: 'catalogue'}]->(t)
SET r.weight = tag.weight
RETURN count(r) AS tagged
