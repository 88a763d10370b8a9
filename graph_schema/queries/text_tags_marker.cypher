// What the text tags now in the graph were written for (mark_text_tags.cypher): rev, the
// catalogue revision then (tags_rev), version and key; nulls before any.
OPTIONAL MATCH (c:Catalogue {id: 'catalogue'})
RETURN c.rev AS rev, c.text_tags_rev AS tags_rev, c.text_tags_version AS version, c.text_tags_key AS key
