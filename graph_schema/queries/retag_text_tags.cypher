// A refresh whose text tags would come out as the published ones moves them to its own
// $model_version in one pass instead of rewriting every item's (live evidence counts a text
// tag only while its version is the published one). Only when, checked here in the same
// write, the tags are $from_version's, chosen with settings $key at the catalogue revision
// this run read ($items_rev: an upsert since leaves the marker behind the catalogue, so the
// next run writes them); otherwise nothing is changed and no row comes back (the caller
// writes the tags then). Catalogue.rev moves on as in write_text_tags.cypher, so ingestion
// re-reads the tags it caches.
MATCH (c:Catalogue {id: 'catalogue'})
WHERE c.text_tags_rev = $items_rev AND c.text_tags_version = $from_version AND c.text_tags_key = $key
SET c.rev = CASE WHEN c.rev IS NULL OR c.rev < timestamp() * 1000
                 THEN timestamp() * 1000 + toInteger(rand() * 1000) ELSE c.rev + 1 END,
    c.text_tags_version = $model_version
WITH count(c) AS carried
WHERE carried > 0
OPTIONAL MATCH (:Item)-[t:TAGGED {source: 'text'}]->(:Interest)
WHERE t.model_version = $from_version
SET t.model_version = $model_version
RETURN carried, count(t) AS n
