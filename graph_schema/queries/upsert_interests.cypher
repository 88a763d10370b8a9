// Interest nodes with a display name and kind (genre, tag, category, ...).
// Catalogue.items_rev moves on as in upsert_items.cypher: an interest's name is text the
// refresh embeds and tags items by.
MERGE (c:Catalogue {id: 'catalogue'})
SET c.items_rev = CASE WHEN c.items_rev IS NULL OR c.items_rev < timestamp() * 1000
                       THEN timestamp() * 1000 + toInteger(rand() * 1000) ELSE c.items_rev + 1 END
WITH count(c) AS bumped
UNWIND $rows AS row
MERGE (t:Interest {id: row.interest_id})
SET t.name = row.name, t.kind = row.kind
RETURN count(t) AS n
