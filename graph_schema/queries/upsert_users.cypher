// User nodes with optional scalar attributes (e.g. demographics from an import).
UNWIND $rows AS row
MERGE (u:User {id: row.user_id})
SET u += row.props
RETURN count(u) AS n
