// FalkorDB variant of pull_user_evidence: one toJSON() string of
// [user_id, interest_id, evidence, evidence_ts] rows.
UNWIND $user_ids AS user_id
MATCH (u:User {id: user_id})-[r:INTERESTED_IN]->(x:Interest)
WHERE r.evidence IS NOT NULL
RETURN toJSON(collect([u.id, x.id, r.evidence, r.evidence_ts])) AS rows_json
