// Every interest's id and display name (for the `interest=` filter and reasons).
MATCH (t:Interest)
RETURN t.id AS interest_id, t.name AS name, t.kind AS kind
ORDER BY interest_id
LIMIT $limit
