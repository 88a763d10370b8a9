// Neo4j variant of pull_evidence: one list value of [user_id, interest_id, evidence,
// evidence_ts] (see neo4j/pull_interactions.cypher).
MATCH (u:User)-[r:INTERESTED_IN]->(x:Interest)
WHERE r.evidence IS NOT NULL AND ($user_ids IS NULL OR u.id IN $user_ids)
RETURN collect([u.id, x.id, r.evidence, r.evidence_ts]) AS rows_json
