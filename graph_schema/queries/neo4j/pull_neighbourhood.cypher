// Neo4j variant of pull_neighbourhood: the rows as one list value (see
// neo4j/pull_interactions.cypher).
UNWIND $user_ids AS user_id
MATCH (u:User {id: user_id})-[r:INTERACTED]->(i:Item)
WHERE r.last_ts >= $since
RETURN collect([u.id, i.id, r.weight, r.count, r.first_ts, r.last_ts]) AS rows_json
