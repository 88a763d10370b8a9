// Every FOLLOWS edge with its weight (community detection reads the user-user graph).
MATCH (a:User)-[r:FOLLOWS]->(b:User)
RETURN a.id AS user_id, b.id AS target_user_id, r.weight AS weight
