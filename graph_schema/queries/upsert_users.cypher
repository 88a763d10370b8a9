// User nodes with optional scalar attributes (e.g. demographics from an import).
UNWIND $rows AS row
MERGE (u:User {id: row.user_id})
ON CREATE SET u.rev = timestamp() * 1000 + toInteger(rand() * 1000)  // see apply_interactions.cypher
SET u += row.props
RETURN count(u) AS n
