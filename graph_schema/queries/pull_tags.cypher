// The catalogue's tags, what the GNN trains on: text tags (source 'text') are the model's
// own proposals, and training on them would feed its guesses back as evidence.
MATCH (i:Item)-[t:TAGGED]->(x:Interest)
WHERE coalesce(t.source, 'catalogue') = 'catalogue'
RETURN i.id AS item_id, x.id AS interest_id, coalesce(t.weight, 1.0) AS weight
