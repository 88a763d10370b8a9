// The web console's interest page: its top users, by the model's strength (of whichever
// run wrote it) and then by raw evidence (as of its own evidence_ts).
MATCH (:Interest {id: $interest_id})<-[e:INTERESTED_IN]-(u:User)
RETURN u.id AS user_id, e.strength AS strength, e.model_version AS model_version,
       e.evidence AS evidence, e.evidence_ts AS evidence_ts
ORDER BY coalesce(e.strength, -1.0) DESC, coalesce(e.evidence, 0.0) DESC, user_id
LIMIT $limit
