// Up to $limit TAGGED {source: 'text'} edges removed (TEXT_TAGS=false: the catalogue opted
// out of text tags); the caller repeats while a batch comes back full.
MERGE (c:Catalogue {id: 'catalogue'})
SET c.rev = CASE WHEN c.rev IS NULL OR c.rev < timestamp() * 1000
                 THEN timestamp() * 1000 + toInteger(rand() * 1000) ELSE c.rev + 1 END,
    c.text_tags_version = null
WITH count(c) AS bumped
MATCH (:Item)-[t:TAGGED {source: 'text'}]->(:Interest)
WITH t LIMIT $limit
DELETE t
RETURN count(*) AS deleted
