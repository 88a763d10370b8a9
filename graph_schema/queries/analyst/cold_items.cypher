// Which items are cold? Catalogue items with fewer than $min_users users
// (zero: never interacted with) — they can only be recommended by interest or similarity.
// params: {"min_users": 1, "limit": 100}
MATCH (i:Item)
OPTIONAL MATCH (i)<-[r:INTERACTED]-(:User)
WITH i, count(r) AS users
WHERE users < $min_users
OPTIONAL MATCH (i)-[:TAGGED]->(t:Interest)
RETURN i.id AS item_id, i.title AS title, users, collect(t.id) AS interests
ORDER BY users, item_id
LIMIT $limit
