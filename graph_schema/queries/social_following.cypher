// Whom a user follows (either kind), with the strongest tie's weight and kind.
MATCH (:User {id: $user_id})-[r:FOLLOWS]->(v:User)
RETURN v.id AS user_id, max(r.weight) AS weight, collect(DISTINCT r.kind) AS kinds
ORDER BY user_id
