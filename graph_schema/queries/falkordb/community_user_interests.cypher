// FalkorDB variant of community_user_interests: one toJSON() string of
// [user_id, interest_id, name, weight] (per-value result parsing of ~1M rows took 12 s).
MATCH (u:User)-[r:INTERESTED_IN]->(t:Interest)
WITH u, t, coalesce(r.strength, r.evidence, 0.0) AS weight
WHERE weight > 0
RETURN toJSON(collect([u.id, t.id, coalesce(t.name, t.id), weight])) AS rows_json
