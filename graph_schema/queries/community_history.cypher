// One community across the kept versions, oldest written first (its interests' trend).
MATCH (c:Community {id: $community_id})
RETURN c.model_version AS model_version, c.size AS size, c.top_interests AS interests,
       c.top_interest_names AS names, c.interest_shares AS shares, c.written_at AS written_at
ORDER BY written_at, model_version
