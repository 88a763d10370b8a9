// A refresh whose text tags would come out as the published ones (no text embedded, the
// catalogue unchanged since they were written: training/text_refresh.py) moves them to its
// own $model_version in one pass instead of rewriting every item's (live evidence counts a
// text tag only while its version is the published one). Catalogue.rev moves on as in
// write_text_tags.cypher, so ingestion re-reads the tags it caches.
MERGE (c:Catalogue {id: 'catalogue'})
WITH c, CASE WHEN c.rev IS NULL OR c.rev < timestamp() * 1000
             THEN timestamp() * 1000 + toInteger(rand() * 1000) ELSE c.rev + 1 END AS rev
SET c.rev = rev, c.text_tags_rev = rev, c.text_tags_version = $model_version
WITH count(c) AS bumped
MATCH (:Item)-[t:TAGGED {source: 'text'}]->(:Interest)
WHERE t.model_version = $from_version
SET t.model_version = $model_version
RETURN count(t) AS n
