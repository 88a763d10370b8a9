// Which interests are popular, day by day? Interactions (by their latest event)
// per interest and UTC day since $since_ms; day_start_ms is the day's start in epoch ms.
// params: {"since_ms": 0}
MATCH (:User)-[r:INTERACTED]->(i:Item)-[:TAGGED]->(t:Interest)
WHERE r.last_ts >= $since_ms
WITH t, r.last_ts - (r.last_ts % 86400000) AS day_start_ms, r
RETURN day_start_ms, t.id AS interest_id, t.name AS interest,
       count(r) AS interactions, sum(r.weight) AS weight
ORDER BY day_start_ms DESC, interactions DESC, interest_id
LIMIT 1000
