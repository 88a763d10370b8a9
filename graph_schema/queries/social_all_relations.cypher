// Every FOLLOWS edge with its weight and start (communities and training read the
// user-user graph; a friendship is two edges).
MATCH (a:User)-[r:FOLLOWS]->(b:User)
RETURN a.id AS user_id, b.id AS target_user_id, r.weight AS weight, r.since AS since
