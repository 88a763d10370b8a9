// How many users have a published vector (an incremental pull compares its seeds with it).
MATCH (n:User)
WHERE n.embedding IS NOT NULL
RETURN count(n) AS n
