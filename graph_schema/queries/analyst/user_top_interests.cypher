// What are a user's strongest interests? The published model's strength (null
// before any model) next to the live evidence decayed to $now_ms, strongest first.
// params: {"user_id": "alice", "now_ms": 1767225600000, "tau_ms": 2592000000.0, "limit": 10}
MATCH (u:User {id: $user_id})-[r:INTERESTED_IN]->(t:Interest)
RETURN t.id AS interest_id, t.name AS interest, r.strength AS strength, r.model_version AS model_version,
       r.evidence * exp(-1.0 * ($now_ms - r.evidence_ts) / $tau_ms) AS evidence_now,
       r.evidence_ts AS last_evidence_ms
ORDER BY coalesce(strength, -1.0) DESC, coalesce(evidence_now, 0.0) DESC, interest_id
LIMIT $limit
