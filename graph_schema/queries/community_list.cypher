// The published communities, largest first.
MATCH (p:CommunityRegistry {id: 'current'})
MATCH (c:Community {model_version: p.model_version})
RETURN c.id AS community_id, c.model_version AS model_version, c.size AS size,
       c.top_interests AS interests, c.top_interest_names AS names, c.interest_shares AS shares
ORDER BY size DESC, community_id
LIMIT $limit
