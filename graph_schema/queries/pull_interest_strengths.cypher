// Population-level interest strengths of the published run (for Interest.trend).
MATCH (t:Interest)
RETURN t.id AS interest_id, t.strength AS strength
