// FalkorDB variant of recs_profile.cypher: identical text except that the result
// map is returned as one toJSON() string. The falkordb client parses every value
// of a reply in Python (~10 µs each), so a heavy user's profile (700+ seen ids)
// took ~50 ms as a map and takes a few ms as one string; the service json-decodes it.
MATCH (u:User {id: $user_id})
OPTIONAL MATCH (u)-[r:INTERACTED]->(i:Item)
WITH u, r, i ORDER BY r.last_ts DESC, r.weight DESC
WITH u, count(i) AS n, collect(i.id)[..$seen_limit] AS seen,
     collect([i.id, i.title, r.weight, r.last_ts])[..$anchors] AS recent
OPTIONAL MATCH (u)-[e:INTERESTED_IN]->(t:Interest)
WITH u, n, seen, recent,
     collect([t.id, t.name, e.strength, e.model_version, e.evidence, e.evidence_ts]) AS interests
RETURN toJSON({interactions: n, seen: seen, recent: recent, interests: interests,
               embedding: u.embedding, model_version: u.model_version,
        ranking: [u.recs_items, u.recs_scores, u.recs_because, u.recs_at]}) AS profile
