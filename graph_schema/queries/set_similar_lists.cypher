// Write-back of item neighbourhoods; edges of several versions coexist until
// the new version is published and the old ones are cleaned up. One row per item of
// version $model_version: [item_id, [[other_id, score, via?], ...]] (positional and grouped:
// ~4x less parameter text than a map per edge, and one lookup of the item per list).
// via 'text': one of the two items has a vector from its text alone (explanations say
// "similar in description"); absent otherwise.
UNWIND $rows AS row
MATCH (a:Item {id: row[0]})
UNWIND row[1] AS other
MATCH (b:Item {id: other[0]})
MERGE (a)-[r:SIMILAR_TO {model_version: $model_version}]->(b)
SET r.score = other[1], r.via = other[2]
RETURN count(r) AS n
