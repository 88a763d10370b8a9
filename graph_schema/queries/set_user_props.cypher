// Write-back of node properties (embedding, model_version, ...) for :User.
UNWIND $rows AS row
MATCH (n:User {id: row.id})
SET n += row.props
RETURN count(n) AS n
