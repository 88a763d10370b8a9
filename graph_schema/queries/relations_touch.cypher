// Renew the User.rev of users whose relations changed (see relations_set.cypher).
UNWIND $users AS uid
MATCH (u:User {id: uid})
SET u.rev = timestamp() * 1000 + toInteger(rand() * 1000)
RETURN count(u) AS renewed
