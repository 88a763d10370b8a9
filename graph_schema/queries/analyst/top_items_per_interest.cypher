// What are the most popular items of each interest? The $per_interest items
// with the most users per interest (ties by total weight).
// params: {"per_interest": 3}
MATCH (t:Interest)<-[:TAGGED]-(i:Item)<-[r:INTERACTED]-(:User)
WITH t, i, count(r) AS users, sum(r.weight) AS weight
ORDER BY users DESC, weight DESC, i.id
WITH t, collect({item_id: i.id, title: i.title, users: users})[..$per_interest] AS top
RETURN t.id AS interest_id, t.name AS interest, top
ORDER BY interest_id
