MATCH (i:Item)-[t:TAGGED]->(x:Interest)
RETURN i.id AS item_id, x.id AS interest_id, coalesce(t.weight, 1.0) AS weight
