// The text of :Interest nodes for the refresh's text encoder (training/text_sync.py), one page:
// the next $page nodes after $after in id order (keyset pagination). props: every
// property (the caller keeps the catalogue's strings); text_hash / text_embedding: what
// the last run stored, so an unchanged text is not embedded again.
MATCH (n:Interest)
WHERE n.id > $after
WITH n ORDER BY n.id LIMIT $page
RETURN n.id AS id, properties(n) AS props
