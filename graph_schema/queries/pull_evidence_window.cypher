// Training pull, one window (FalkorDB's paging of pull_evidence_page, as
// pull_interactions_window): the live interest evidence of the users whose internal node
// id is in [$lo, $hi). rows_json: one list of [user_id, interest_id, evidence, evidence_ts].
MATCH (u:User)
WHERE id(u) >= $lo AND id(u) < $hi
OPTIONAL MATCH (u)-[r:INTERESTED_IN]->(x:Interest)
WHERE r.evidence IS NOT NULL
RETURN collect(CASE WHEN x IS NULL THEN null ELSE [u.id, x.id, r.evidence, r.evidence_ts] END) AS rows_json
