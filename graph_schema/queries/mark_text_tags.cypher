// After a refresh wrote every item's text tags: the catalogue revision it read the texts and
// catalogue tags at ($items_rev, read before the run's text phase, so an upsert during the
// run leaves the tags older than the catalogue), the version that wrote them and the
// settings they were chosen with ($key), so that a later run with nothing changed can carry
// them (retag_text_tags.cypher).
MERGE (c:Catalogue {id: 'catalogue'})
SET c.text_tags_rev = $items_rev, c.text_tags_version = $model_version, c.text_tags_key = $key
RETURN c.text_tags_rev AS rev
