// The published community of a user (no row: none).
MATCH (p:CommunityRegistry {id: 'current'})
MATCH (:User {id: $user_id})-[m:MEMBER_OF]->(c:Community)
WHERE m.model_version = p.model_version
RETURN c.id AS community_id
