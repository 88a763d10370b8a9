// How did a user's interests move since the last model? For each interest: the
// model's strength and rank, the live evidence and its rank now; a big rank gap
// means the next refresh will likely reorder this user's interests.
// params: {"user_id": "alice", "now_ms": 1767225600000, "tau_ms": 2592000000.0}
MATCH (u:User {id: $user_id})-[r:INTERESTED_IN]->(t:Interest)
WITH t, coalesce(r.strength, 0.0) AS strength,
     coalesce(r.evidence, 0.0) * exp(-1.0 * ($now_ms - coalesce(r.evidence_ts, $now_ms)) / $tau_ms) AS evidence
WITH collect({id: t.id, name: t.name, strength: strength, evidence: evidence}) AS rows
UNWIND rows AS row
WITH row, size([x IN rows WHERE x.strength > row.strength]) + 1 AS model_rank,
     size([x IN rows WHERE x.evidence > row.evidence]) + 1 AS evidence_rank
RETURN row.id AS interest_id, row.name AS interest, row.strength AS strength, model_rank,
       row.evidence AS evidence_now, evidence_rank, evidence_rank - model_rank AS rank_change
ORDER BY model_rank, evidence_rank, interest_id
