MATCH (u:User {id: $user_id}) RETURN count(u) AS n
