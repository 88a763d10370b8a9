// Membership of one version: (:User)-[:MEMBER_OF {model_version}]->(:Community).
// $rows: [user_id, community_id], one per user.
UNWIND $rows AS row
MATCH (u:User {id: row[0]}), (c:Community {key: $version + '/' + row[1]})
MERGE (u)-[m:MEMBER_OF {model_version: $version}]->(c)
RETURN count(m) AS n
