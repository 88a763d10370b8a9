// Which interests go together? Pairs of interests both held (with evidence) by
// the same users, with how many users share them. `a.id < b.id` counts each pair
// once (and keeps a <> b explicit for FalkorDB); users are aggregated per pair.
// params: {"min_users": 1, "limit": 50}
MATCH (a:Interest)<-[:INTERESTED_IN]-(u:User)-[:INTERESTED_IN]->(b:Interest)
WHERE a.id < b.id
WITH a, b, count(u) AS users
WHERE users >= $min_users
RETURN a.id AS interest_a, a.name AS name_a, b.id AS interest_b, b.name AS name_b, users
ORDER BY users DESC, interest_a, interest_b
LIMIT $limit
