// Delete up to $limit relationships; wipe() empties the graph's relationships this way
// before its nodes, so that no transaction holds a popular node's every edge (Neo4j
// keeps a transaction's changes on its heap, capped by db.memory.transaction.max).
MATCH ()-[r]->()
WITH r LIMIT $limit
DELETE r
RETURN count(*) AS deleted
