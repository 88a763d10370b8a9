// Which users' strongest interest changed since the last model? The strongest
// interest by published strength vs the strongest by live evidence now
// (a strength-only edge has no evidence: skipped, as null sorts first in DESC).
// params: {"now_ms": 1767225600000, "tau_ms": 2592000000.0, "limit": 100}
MATCH (u:User)-[r:INTERESTED_IN]->(t:Interest)
WHERE r.strength IS NOT NULL
WITH u, t, r ORDER BY r.strength DESC, t.id
WITH u, collect(t.id)[0] AS by_model
MATCH (u)-[e:INTERESTED_IN]->(t2:Interest)
WHERE e.evidence IS NOT NULL
WITH u, by_model, t2, e.evidence * exp(-1.0 * ($now_ms - e.evidence_ts) / $tau_ms) AS evidence
ORDER BY evidence DESC, t2.id
WITH u, by_model, collect(t2.id)[0] AS by_evidence
WHERE by_model <> by_evidence
RETURN u.id AS user_id, by_model AS strongest_in_model, by_evidence AS strongest_now
ORDER BY user_id
LIMIT $limit
