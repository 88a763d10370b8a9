// Write-back of item neighbourhoods; edges of several versions coexist until
// the new version is published and the old ones are cleaned up.
UNWIND $rows AS row
MATCH (a:Item {id: row.item_id})
MATCH (b:Item {id: row.other_id})
MERGE (a)-[r:SIMILAR_TO {model_version: row.model_version}]->(b)
SET r.score = row.score
RETURN count(r) AS n
