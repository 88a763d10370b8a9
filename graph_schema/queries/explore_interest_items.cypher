// The web console's interest page: its most popular items (most users, then weight).
MATCH (:Interest {id: $interest_id})<-[:TAGGED]-(i:Item)
OPTIONAL MATCH (i)<-[r:INTERACTED]-(:User)
WITH i, count(r) AS users, sum(coalesce(r.weight, 0.0)) AS weight
RETURN i.id AS item_id, i.title AS title, users, weight
ORDER BY users DESC, weight DESC, item_id
LIMIT $limit
