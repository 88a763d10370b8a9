// Who are the members of a community (published version), and what are their top interests?
// params: {"community_id": "c1", "limit": 100}
MATCH (p:CommunityRegistry {id: 'current'})
MATCH (u:User)-[m:MEMBER_OF]->(c:Community {id: $community_id})
WHERE m.model_version = p.model_version AND c.model_version = p.model_version
OPTIONAL MATCH (u)-[r:INTERESTED_IN]->(t:Interest)
WITH u, c, t, coalesce(r.strength, r.evidence, 0.0) AS w
ORDER BY w DESC
WITH u, c, [x IN collect(t.id) WHERE x IS NOT NULL][..3] AS top_interests
RETURN c.id AS community_id, u.id AS user_id, top_interests
ORDER BY user_id
LIMIT $limit
