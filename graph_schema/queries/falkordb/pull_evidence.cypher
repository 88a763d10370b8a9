// FalkorDB variant of pull_evidence: one toJSON() string of
// [user_id, interest_id, evidence, evidence_ts].
MATCH (u:User)-[r:INTERESTED_IN]->(x:Interest)
WHERE r.evidence IS NOT NULL AND ($user_ids IS NULL OR u.id IN $user_ids)
RETURN toJSON(collect([u.id, x.id, r.evidence, r.evidence_ts])) AS rows_json
