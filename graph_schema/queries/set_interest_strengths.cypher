// Write-back of learned interest strengths (one row per user, interest).
UNWIND $rows AS row
MATCH (u:User {id: row.user_id})
MATCH (t:Interest {id: row.interest_id})
MERGE (u)-[r:INTERESTED_IN]->(t)
SET r.strength = row.strength, r.updated_at = row.updated_at, r.model_version = row.model_version
RETURN count(r) AS n
