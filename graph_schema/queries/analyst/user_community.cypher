// Which community is a user in (published version), how big is it, and what are its top interests?
// params: {"user_id": "alice"}
MATCH (p:CommunityRegistry {id: 'current'})
MATCH (:User {id: $user_id})-[m:MEMBER_OF]->(c:Community)
WHERE m.model_version = p.model_version
RETURN c.id AS community_id, c.size AS size, c.top_interest_names AS top_interests,
       c.interest_shares AS shares, c.model_version AS model_version
