// Write-back of node properties (embedding, model_version, ...) for :Item.
UNWIND $rows AS row
MATCH (n:Item {id: row.id})
SET n += row.props
RETURN count(n) AS n
