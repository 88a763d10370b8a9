// People you may like, by shared interests: the user's $interests strongest interests
// (model strength, else live evidence), and per interest its $per_interest strongest
// other users; a candidate scores the sum of (mine × theirs) over shared interests.
MATCH (:User {id: $user_id})-[a:INTERESTED_IN]->(t:Interest)
WITH t, coalesce(a.strength, a.evidence, 0.0) AS mine
ORDER BY mine DESC, t.id
LIMIT $interests
MATCH (t)<-[b:INTERESTED_IN]-(w:User)
WHERE w.id <> $user_id
WITH t, mine, w.id AS other, coalesce(b.strength, b.evidence, 0.0) AS theirs
ORDER BY theirs DESC, other
WITH t, mine, collect([other, theirs])[..$per_interest] AS top
UNWIND top AS pair
WITH pair[0] AS user_id, sum(mine * pair[1]) AS score, collect(coalesce(t.name, t.id)) AS interests
RETURN user_id, score, interests
ORDER BY score DESC, user_id
LIMIT $limit
