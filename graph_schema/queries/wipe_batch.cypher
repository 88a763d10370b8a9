// Delete up to $limit nodes (and their relationships); used to empty a graph
// in bounded transactions before a replay.
MATCH (n)
WHERE NOT n:SchemaMigration
WITH n LIMIT $limit
DETACH DELETE n
RETURN count(*) AS deleted
