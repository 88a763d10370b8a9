// The text of :Interest nodes for the refresh's text encoder (training/text_sync.py), one page:
// the next $page nodes after $after in id order (keyset pagination). props: every
// property but the vectors (the caller keeps the catalogue's strings; text_hash is what
// the last run stored, so an unchanged text is not embedded again). The stored text
// vectors come apart, as numbers (pull_text_vectors_interest): parsed as property maps they
// made most of an incremental refresh's time at 20,000 items.
MATCH (n:Interest)
WHERE n.id > $after
WITH n ORDER BY n.id LIMIT $page
RETURN n.id AS id, n {.*, text_embedding: null, embedding: null, next_embedding: null} AS props
