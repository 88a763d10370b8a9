// What does the published model consider similar to an item? Its SIMILAR_TO
// neighbours of the current model version, and how many users each has.
// params: {"item_id": "i1", "limit": 20}
MATCH (m:ModelRegistry {id: 'current'})
MATCH (a:Item {id: $item_id})-[s:SIMILAR_TO]->(b:Item)
WHERE s.model_version = coalesce(m.similar_version, m.model_version) AND b <> a
OPTIONAL MATCH (b)<-[r:INTERACTED]-(:User)
WITH b, s, count(r) AS users
RETURN b.id AS item_id, b.title AS title, s.score AS score, users
ORDER BY score DESC, item_id
LIMIT $limit
