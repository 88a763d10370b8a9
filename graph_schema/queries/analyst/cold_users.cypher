// Which users are (nearly) cold-start? Users with fewer than $max_items items;
// they get mostly trending recommendations until they interact more.
// params: {"max_items": 3, "limit": 100}
MATCH (u:User)
OPTIONAL MATCH (u)-[r:INTERACTED]->(:Item)
WITH u, count(r) AS items, max(r.last_ts) AS last_seen_ms
WHERE items < $max_items
RETURN u.id AS user_id, items, last_seen_ms
ORDER BY items, user_id
LIMIT $limit
