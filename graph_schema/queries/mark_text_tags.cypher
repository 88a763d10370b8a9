// After a refresh wrote every item's text tags: the catalogue revision they reflect, the
// version that wrote them and the settings they were chosen with ($key), so that a later
// run with nothing changed can carry them (retag_text_tags.cypher).
MERGE (c:Catalogue {id: 'catalogue'})
SET c.text_tags_rev = c.rev, c.text_tags_version = $model_version, c.text_tags_key = $key
RETURN c.text_tags_rev AS rev
