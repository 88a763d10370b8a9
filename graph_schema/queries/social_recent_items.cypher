// What the people a user follows took most recently (the social candidate source):
// one row per (followed user, item), newest first, at most $limit rows.
// The strongest tie counts when a user is both followed and a friend.
MATCH (:User {id: $user_id})-[f:FOLLOWS]->(v:User)
WITH v, max(f.weight) AS tie
MATCH (v)-[r:INTERACTED]->(i:Item)
RETURN v.id AS user_id, tie, i.id AS item_id, r.weight AS weight, r.last_ts AS last_ts
ORDER BY last_ts DESC, item_id, user_id
LIMIT $limit
