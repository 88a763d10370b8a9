// FalkorDB variant of pull_evidence_window: the window's rows as one toJSON() string.
MATCH (u:User)
WHERE id(u) >= $lo AND id(u) < $hi
OPTIONAL MATCH (u)-[r:INTERESTED_IN]->(x:Interest)
WHERE r.evidence IS NOT NULL
RETURN toJSON(collect(CASE WHEN x IS NULL THEN null ELSE [u.id, x.id, r.evidence, r.evidence_ts] END)) AS rows_json
