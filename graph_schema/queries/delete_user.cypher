// Privacy delete: the user node and every relationship it has.
MATCH (u:User {id: $user_id})
OPTIONAL MATCH (u)-[r]-()
WITH u, count(r) AS relationships
DETACH DELETE u
RETURN relationships
