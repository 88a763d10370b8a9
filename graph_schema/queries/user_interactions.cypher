// A user's items, most recent first.
MATCH (u:User {id: $user_id})-[r:INTERACTED]->(i:Item)
RETURN i.id AS item_id, i.title AS title, r.weight AS weight, r.count AS count,
       r.first_ts AS first_ts, r.last_ts AS last_ts
ORDER BY last_ts DESC, item_id
LIMIT $limit
