// Training pull, one page: the live interest evidence of the next $page users after
// $after in id order (keyset pagination, as pull_interactions_page). rows_json: one list
// of [user_id, interest_id, evidence, evidence_ts]; last: the page's last user id.
MATCH (u:User)
WHERE u.id > $after
WITH u ORDER BY u.id LIMIT $page
WITH collect(u) AS users
WITH users, last(users).id AS last
UNWIND users AS u
OPTIONAL MATCH (u)-[r:INTERESTED_IN]->(x:Interest)
WHERE r.evidence IS NOT NULL
RETURN last, collect(CASE WHEN x IS NULL THEN null ELSE [u.id, x.id, r.evidence, r.evidence_ts] END) AS rows_json
