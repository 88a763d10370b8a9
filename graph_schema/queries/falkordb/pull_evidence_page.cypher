// FalkorDB variant of pull_evidence_page: the page's rows as one toJSON() string.
MATCH (u:User)
WHERE u.id > $after
WITH u ORDER BY u.id LIMIT $page
WITH collect(u) AS users
WITH users, last(users).id AS last
UNWIND users AS u
OPTIONAL MATCH (u)-[r:INTERESTED_IN]->(x:Interest)
WHERE r.evidence IS NOT NULL
RETURN last, toJSON(collect(CASE WHEN x IS NULL THEN null ELSE [u.id, x.id, r.evidence, r.evidence_ts] END)) AS rows_json
