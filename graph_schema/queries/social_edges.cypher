// Every FOLLOWS edge (tests): follower, followed, kind.
MATCH (a:User)-[r:FOLLOWS]->(b:User)
RETURN a.id AS a, b.id AS b, r.kind AS k
