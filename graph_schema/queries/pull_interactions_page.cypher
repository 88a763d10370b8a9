// Training pull, one page: the interactions (last touched at or after $since, epoch ms)
// of the next $page users after $after in id order (keyset pagination: each page starts
// from the index, so a page costs the same wherever it is). rows_json: one list of
// [user_id, item_id, weight, count, first_ts, last_ts]; last: the page's last user id,
// the next page's $after (no row: no users left).
MATCH (u:User)
WHERE u.id > $after
WITH u ORDER BY u.id LIMIT $page
WITH collect(u) AS users
WITH users, last(users).id AS last
UNWIND users AS u
OPTIONAL MATCH (u)-[r:INTERACTED]->(i:Item)
WHERE r.last_ts >= $since
RETURN last, collect(CASE WHEN r IS NULL THEN null ELSE [u.id, i.id, r.weight, r.count, r.first_ts, r.last_ts] END) AS rows_json
