// Interest nodes with a display name and kind (genre, tag, category, ...).
UNWIND $rows AS row
MERGE (t:Interest {id: row.interest_id})
SET t.name = row.name, t.kind = row.kind
RETURN count(t) AS n
