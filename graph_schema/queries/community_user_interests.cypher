// Every user's interests with a weight: the model's strength if written, else the
// live evidence (community detection: users linked by shared strong interests).
MATCH (u:User)-[r:INTERESTED_IN]->(t:Interest)
WITH u, t, coalesce(r.strength, r.evidence, 0.0) AS weight
WHERE weight > 0
RETURN u.id AS user_id, t.id AS interest_id, coalesce(t.name, t.id) AS name, weight
