// Training pull: interactions last touched at or after $since (epoch ms),
// optionally restricted to $user_ids (null = everyone).
MATCH (u:User)-[r:INTERACTED]->(i:Item)
WHERE r.last_ts >= $since AND ($user_ids IS NULL OR u.id IN $user_ids)
RETURN u.id AS user_id, i.id AS item_id, r.weight AS weight, r.count AS count,
       r.first_ts AS first_ts, r.last_ts AS last_ts
