// The web console's item page: title, how many users interacted with it, and its tags
// ([interest_id, name, weight] per TAGGED edge). No row for an unknown id.
MATCH (i:Item {id: $item_id})
OPTIONAL MATCH (i)<-[r:INTERACTED]-(:User)
WITH i, count(r) AS users
OPTIONAL MATCH (i)-[t:TAGGED]->(it:Interest)
RETURN i.title AS title, users,
       collect(CASE WHEN it IS NULL THEN NULL ELSE [it.id, coalesce(it.name, it.id), coalesce(t.weight, 1.0)] END) AS tags
