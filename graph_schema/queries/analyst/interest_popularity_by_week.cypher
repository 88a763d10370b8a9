// Which interests are popular, week by week? Like interest_popularity_by_day,
// in 7-day buckets counted from the epoch (weeks start on Thursdays, UTC).
// params: {"since_ms": 0}
MATCH (:User)-[r:INTERACTED]->(i:Item)-[:TAGGED]->(t:Interest)
WHERE r.last_ts >= $since_ms
WITH t, r.last_ts - (r.last_ts % 604800000) AS week_start_ms, r
RETURN week_start_ms, t.id AS interest_id, t.name AS interest,
       count(r) AS interactions, sum(r.weight) AS weight
ORDER BY week_start_ms DESC, interactions DESC, interest_id
LIMIT 1000
