// A refresh's text tags, written after it published: row {item_id, tags: [{id, weight}]}
// replaces every TAGGED {source: 'text'} edge of the item (an empty list removes them).
// Each edge carries the run's $model_version: live evidence counts a text tag only while
// that version is the published one (apply_interactions_tagged.cypher, item_tags.cypher).
// Catalogue.rev moves on as in upsert_items.cypher, so ingestion re-reads the tags it caches.
// Catalogue tags (source 'catalogue') are never touched here.
MERGE (c:Catalogue {id: 'catalogue'})
SET c.rev = CASE WHEN c.rev IS NULL OR c.rev < timestamp() * 1000
                 THEN timestamp() * 1000 + toInteger(rand() * 1000) ELSE c.rev + 1 END
WITH count(c) AS bumped
UNWIND $rows AS row
MATCH (i:Item {id: row.item_id})
OPTIONAL MATCH (i)-[old:TAGGED {source: 'text'}]->(:Interest)
DELETE old
WITH DISTINCT i, row
UNWIND row.tags AS tag
MATCH (t:Interest {id: tag.id})
CREATE (i)-[r:TAGGED {source: 'text', weight: tag.weight, model_version: $model_version, encoder: $encoder}]->(t)
RETURN count(r) AS n
