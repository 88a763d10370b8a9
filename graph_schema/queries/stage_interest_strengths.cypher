// Stage learned interest strengths of run $rows[].model_version under next_*
// properties; publish_model promotes them atomically with the pointer, so a run
// that fails before publishing leaves the live strengths untouched.
UNWIND $rows AS row
MATCH (u:User {id: row.user_id})
MATCH (t:Interest {id: row.interest_id})
MERGE (u)-[r:INTERESTED_IN]->(t)
SET r.next_strength = row.strength, r.next_updated_at = row.updated_at, r.next_model_version = row.model_version
RETURN count(r) AS n
