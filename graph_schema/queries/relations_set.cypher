// Relation registers that are active (service/ingest/relations.py): one FOLLOWS edge
// per (user, target, kind), kind 'follow' (directed) or 'friend' (written both ways).
// $users: every user id of $rows, once (FalkorDB 4.16 crashed on repeated MERGE keys);
// $followers: the users whose relations change: their User.rev is renewed, so cached
// answers for them are not reused (see recs_user_state.cypher).
// $rows: [user_id, target_user_id, kind, since (ms), weight], one per key.
UNWIND $users AS uid
MERGE (u:User {id: uid})
ON CREATE SET u.rev = timestamp() * 1000 + toInteger(rand() * 1000)
WITH count(u) AS merged
UNWIND $followers AS fid
MATCH (f:User {id: fid})
SET f.rev = timestamp() * 1000 + toInteger(rand() * 1000)
WITH count(f) AS renewed
UNWIND $rows AS row
MATCH (a:User {id: row[0]}), (b:User {id: row[1]})
MERGE (a)-[r:FOLLOWS {kind: row[2]}]->(b)
SET r.since = row[3], r.weight = row[4]
RETURN count(r) AS written
