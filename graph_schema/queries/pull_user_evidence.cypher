// Live interest evidence of the users $user_ids (an incremental refresh's seeds), found
// through the User id index one user at a time (pull_evidence scans every user).
// queries/falkordb/pull_user_evidence.cypher returns the same rows as one toJSON() string.
UNWIND $user_ids AS user_id
MATCH (u:User {id: user_id})-[r:INTERESTED_IN]->(x:Interest)
WHERE r.evidence IS NOT NULL
RETURN u.id AS user_id, x.id AS interest_id, r.evidence AS evidence, r.evidence_ts AS evidence_ts
