// The text encoder's output for :Item nodes: row {id, text_hash, text_embedding (384 floats)}.
// Not versioned with the model: the vector depends on the text and the encoder only
// (text_hash covers both), so a run that is rejected leaves a valid cache behind.
UNWIND $rows AS row
MATCH (n:Item {id: row.id})
SET n.text_hash = row.text_hash, n.text_embedding = row.text_embedding
RETURN count(n) AS n
