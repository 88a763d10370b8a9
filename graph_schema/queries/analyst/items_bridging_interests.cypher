// Which items bridge two interests? Items tagged with both $a and $b, most
// interacted first — good candidates to move users from one interest to the other.
// params: {"a": "genre:scifi", "b": "genre:drama", "limit": 20}
MATCH (x:Interest {id: $a})<-[:TAGGED]-(i:Item)-[:TAGGED]->(y:Interest {id: $b})
// explicit: Neo4j never binds one TAGGED edge twice in a pattern, FalkorDB does
WHERE x <> y
OPTIONAL MATCH (i)<-[r:INTERACTED]-(:User)
WITH i, count(r) AS users, sum(coalesce(r.weight, 0.0)) AS weight
RETURN i.id AS item_id, i.title AS title, users, weight
ORDER BY users DESC, weight DESC, item_id
LIMIT $limit
