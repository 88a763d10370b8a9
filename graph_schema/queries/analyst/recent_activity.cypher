// What happened lately? Per user, interactions whose latest event is at or after
// $since_ms: how many items, how many events, total weight — the most active first.
// params: {"since_ms": 0, "limit": 50}
MATCH (u:User)-[r:INTERACTED]->(:Item)
WHERE r.last_ts >= $since_ms
WITH u, count(r) AS items, sum(r.count) AS events, sum(r.weight) AS weight, max(r.last_ts) AS last_seen_ms
RETURN u.id AS user_id, items, events, weight, last_seen_ms
ORDER BY events DESC, weight DESC, user_id
LIMIT $limit
