// The catalogue's revision, items_rev: moved by item and interest upserts only (text-tag
// writes move rev too). A refresh reads it before its text phase; its text tags and text
// cache record it (mark_text_tags.cypher, training/text_cache.py). 0 before any.
OPTIONAL MATCH (c:Catalogue {id: 'catalogue'})
RETURN coalesce(c.items_rev, 0) AS items_rev
