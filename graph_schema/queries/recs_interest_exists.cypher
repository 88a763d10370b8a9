MATCH (t:Interest {id: $interest_id}) RETURN count(t) AS n
