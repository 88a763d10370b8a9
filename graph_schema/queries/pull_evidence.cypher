MATCH (u:User)-[r:INTERESTED_IN]->(x:Interest)
WHERE r.evidence IS NOT NULL AND ($user_ids IS NULL OR u.id IN $user_ids)
RETURN u.id AS user_id, x.id AS interest_id, r.evidence AS evidence, r.evidence_ts AS evidence_ts
