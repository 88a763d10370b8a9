// People you may like, by friends of friends: users followed by the users $user_id
// follows, with who leads there (the caller drops those already followed).
MATCH (:User {id: $user_id})-[:FOLLOWS]->(v:User)-[:FOLLOWS]->(w:User)
WHERE w.id <> $user_id
WITH w, collect(DISTINCT v.id) AS via
RETURN w.id AS user_id, via
ORDER BY size(via) DESC, user_id
LIMIT $limit
