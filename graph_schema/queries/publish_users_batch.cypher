// One batch of a batched publish (publish_intent.cypher): promote $limit users staged
// under $model_version, with their staged interest strengths, in one transaction. The
// same SETs as publish_model.cypher, whose final pass promotes any rows left over.
MATCH (u:User) WHERE u.next_model_version = $model_version
WITH u LIMIT $limit
OPTIONAL MATCH (u)-[r:INTERESTED_IN]->(:Interest) WHERE r.next_model_version = $model_version
SET r.strength = r.next_strength, r.updated_at = r.next_updated_at, r.model_version = r.next_model_version
SET r.next_strength = null, r.next_updated_at = null, r.next_model_version = null
WITH u, count(r) AS strengths
SET u.embedding = u.next_embedding, u.model_version = u.next_model_version,
    u.refreshed_at = u.next_refreshed_at, u.top_interests = u.next_top_interests,
    u.interest_strengths = u.next_interest_strengths
SET u.recs_items = coalesce(u.next_recs_items, u.recs_items),
    u.recs_scores = coalesce(u.next_recs_scores, u.recs_scores),
    u.recs_because = coalesce(u.next_recs_because, u.recs_because),
    u.recs_at = coalesce(u.next_recs_at, u.recs_at)
SET u.next_embedding = null, u.next_model_version = null, u.next_refreshed_at = null,
    u.next_top_interests = null, u.next_interest_strengths = null, u.next_recs_items = null,
    u.next_recs_scores = null, u.next_recs_because = null, u.next_recs_at = null
RETURN count(u) AS n, sum(strengths) AS strengths
