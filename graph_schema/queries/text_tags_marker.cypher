// The catalogue's revision (items_rev: moved by catalogue upserts only) and what the text
// tags now in the graph were chosen at (mark_text_tags.cypher); nulls before any.
OPTIONAL MATCH (c:Catalogue {id: 'catalogue'})
RETURN coalesce(c.items_rev, 0) AS items_rev, c.text_tags_rev AS tags_rev,
       c.text_tags_version AS version, c.text_tags_key AS key
