// How many users and items: a publish of more of either than REFRESH_PUBLISH_BATCH is batched.
OPTIONAL MATCH (u:User)
WITH count(u) AS users
OPTIONAL MATCH (i:Item)
RETURN users, count(i) AS items
