// Relation registers that are inactive (an unfollow or unfriend newer than the last
// follow or friend): their FOLLOWS edge goes. $rows: [user_id, target_user_id, kind].
// The follower's User.rev is renewed (see relations_set.cypher).
UNWIND $rows AS row
MATCH (a:User {id: row[0]})-[r:FOLLOWS {kind: row[2]}]->(:User {id: row[1]})
DELETE r
RETURN count(*) AS removed
