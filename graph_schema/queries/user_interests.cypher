// A user's interests with live evidence and the model's strength (may be null).
MATCH (u:User {id: $user_id})-[r:INTERESTED_IN]->(t:Interest)
RETURN t.id AS interest_id, t.name AS name, t.kind AS kind,
       r.evidence AS evidence, r.evidence_ts AS evidence_ts,
       r.strength AS strength, r.updated_at AS updated_at, r.model_version AS model_version
ORDER BY interest_id
