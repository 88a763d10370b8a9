// FalkorDB variant of recs_profile.cypher: identical text except that the result
// map is returned as one toJSON() string. The falkordb client parses every value
// of a reply in Python (~10 µs each), so a heavy user's profile (700+ seen ids)
// took ~50 ms as a map and takes a few ms as one string; the service json-decodes it.
MATCH (u:User {id: $user_id})
OPTIONAL MATCH (m:ModelRegistry {id: 'current'})
WITH u, [m.model_version, m.published_at] AS published
OPTIONAL MATCH (u)-[r:INTERACTED]->(i:Item)
WITH u, published, r, i ORDER BY r.last_ts DESC, r.weight DESC
WITH u, published, count(i) AS n, collect(i.id)[..$seen_limit] AS seen,
     collect([i.id, i.title, r.weight, r.last_ts])[..$anchors] AS recent
OPTIONAL MATCH (u)-[e:INTERESTED_IN]->(t:Interest)
WITH u, published, n, seen, recent,
     collect([t.id, t.name, e.strength, e.model_version, e.evidence, e.evidence_ts]) AS interests
OPTIONAL MATCH (u)-[f:FOLLOWS]->(v:User)
WITH u, published, n, seen, recent, interests, v, max(f.weight) AS tie
OPTIONAL MATCH (v)-[fr:INTERACTED]->(fi:Item)
WITH u, published, n, seen, recent, interests, v, tie, fr, fi
ORDER BY fr.last_ts DESC, fi.id, v.id
WITH u, published, n, seen, recent, interests,
     collect(CASE WHEN fi IS NULL THEN NULL ELSE [v.id, tie, fi.id, fr.weight, fr.last_ts] END)[..$social_rows] AS followed
RETURN toJSON({interactions: n, seen: seen, recent: recent, interests: interests,
               embedding: u.embedding, model_version: u.model_version,
               ranking: [u.recs_items, u.recs_scores, u.recs_because, u.recs_at],
               followed: followed, published: published}) AS profile
