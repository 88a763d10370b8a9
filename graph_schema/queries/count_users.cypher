MATCH (u:User) RETURN count(u) AS n
