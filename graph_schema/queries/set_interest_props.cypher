// Write-back of node properties (embedding, model_version, ...) for :Interest.
UNWIND $rows AS row
MATCH (n:Interest {id: row.id})
SET n += row.props
RETURN count(n) AS n
