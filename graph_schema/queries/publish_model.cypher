// Publish run $model_version in ONE query (one transaction on both engines):
// promote every property the run staged under next_* to its live name, then
// move the pointer. Until this commits, readers see only the previous version;
// a run that failed while staging never reaches it. Properties written directly
// (not staged) are untouched; nodes staged by other runs keep their next_*.
OPTIONAL MATCH (u:User) WHERE u.next_model_version = $model_version
SET u.embedding = u.next_embedding, u.model_version = u.next_model_version,
    u.refreshed_at = u.next_refreshed_at, u.top_interests = u.next_top_interests,
    u.interest_strengths = u.next_interest_strengths
SET u.next_embedding = null, u.next_model_version = null, u.next_refreshed_at = null,
    u.next_top_interests = null, u.next_interest_strengths = null
WITH count(u) AS users
OPTIONAL MATCH (i:Item) WHERE i.next_model_version = $model_version
SET i.embedding = i.next_embedding, i.model_version = i.next_model_version, i.refreshed_at = i.next_refreshed_at
SET i.next_embedding = null, i.next_model_version = null, i.next_refreshed_at = null
WITH users, count(i) AS items
OPTIONAL MATCH (t:Interest) WHERE t.next_model_version = $model_version
SET t.embedding = t.next_embedding, t.model_version = t.next_model_version, t.refreshed_at = t.next_refreshed_at,
    t.strength = t.next_strength, t.trend = t.next_trend
SET t.next_embedding = null, t.next_model_version = null, t.next_refreshed_at = null,
    t.next_strength = null, t.next_trend = null
WITH users, items, count(t) AS interests
OPTIONAL MATCH (:User)-[r:INTERESTED_IN]->(:Interest) WHERE r.next_model_version = $model_version
SET r.strength = r.next_strength, r.updated_at = r.next_updated_at, r.model_version = r.next_model_version
SET r.next_strength = null, r.next_updated_at = null, r.next_model_version = null
WITH users, items, interests, count(r) AS strengths
MERGE (m:ModelRegistry {id: 'current'})
SET m.model_version = $model_version, m.published_at = $published_at, m.metrics = $metrics
RETURN m.model_version AS model_version, users, items, interests, strengths
