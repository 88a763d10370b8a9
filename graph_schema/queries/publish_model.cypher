// Publish run $model_version in ONE query (one transaction on both engines):
// promote every property the run staged under next_* to its live name, then
// move the pointer. Until this commits, readers see only the previous version;
// a run that failed while staging never reaches it. Properties written directly
// (not staged) are untouched; nodes staged by other runs keep their next_*.
// A graph of more users or items than REFRESH_PUBLISH_BATCH publishes in batches first
// (publish_intent.cypher, publish_*_batch, carry_*_batch); this query then promotes
// what is left, moves the pointer and clears the record of the publish under way.
OPTIONAL MATCH (u:User) WHERE u.next_model_version = $model_version
SET u.embedding = u.next_embedding, u.model_version = u.next_model_version,
    u.refreshed_at = u.next_refreshed_at, u.top_interests = u.next_top_interests,
    u.interest_strengths = u.next_interest_strengths
// the learned ranking (full runs): a run that staged none (incremental) keeps the user's
// list, and the API adds what the user did after its recs_at
SET u.recs_items = coalesce(u.next_recs_items, u.recs_items),
    u.recs_scores = coalesce(u.next_recs_scores, u.recs_scores),
    u.recs_because = coalesce(u.next_recs_because, u.recs_because),
    u.recs_at = coalesce(u.next_recs_at, u.recs_at)
SET u.next_embedding = null, u.next_model_version = null, u.next_refreshed_at = null,
    u.next_top_interests = null, u.next_interest_strengths = null, u.next_recs_items = null,
    u.next_recs_scores = null, u.next_recs_because = null, u.next_recs_at = null
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
// Carry-forward (incremental runs; $carry_from is the version the run started from,
// null for full runs): readers ask for rows of exactly the published model_version,
// and an incremental run stages only what it re-fitted, so every vector and strength
// of $carry_from it did not replace joins the new version here, unchanged. Strengths
// first, and only of users not promoted above: a re-fitted user's old strengths are
// not carried (cleanup_strength_edges clears those its new top list dropped).
OPTIONAL MATCH (cu:User)-[cr:INTERESTED_IN]->(:Interest)
WHERE $carry_from IS NOT NULL AND cr.model_version = $carry_from AND cu.model_version = $carry_from
SET cr.model_version = $model_version
WITH users, items, interests, strengths, count(cr) AS carried_strengths
OPTIONAL MATCH (cv:User) WHERE $carry_from IS NOT NULL AND cv.model_version = $carry_from
SET cv.model_version = $model_version
WITH users, items, interests, strengths, carried_strengths, count(cv) AS carried_users
OPTIONAL MATCH (ci:Item) WHERE $carry_from IS NOT NULL AND ci.model_version = $carry_from
SET ci.model_version = $model_version
WITH users, items, interests, strengths, carried_strengths, carried_users, count(ci) AS carried_items
OPTIONAL MATCH (ct:Interest) WHERE $carry_from IS NOT NULL AND ct.model_version = $carry_from
SET ct.model_version = $model_version
WITH users, items, interests, strengths, carried_strengths, carried_users, carried_items,
     count(ct) AS carried_interests
MERGE (m:ModelRegistry {id: 'current'})
// SIMILAR_TO: a run that wrote none ($similar_version: an incremental run) keeps the lists
// the published model read
SET m.similar_version = coalesce($similar_version, $model_version)
SET m.model_version = $model_version, m.published_at = $published_at, m.metrics = $metrics
SET m.publishing = null, m.publishing_carry_from = null, m.publishing_similar_version = null,
    m.publishing_metrics = null, m.publishing_at = null
RETURN m.model_version AS model_version, users, items, interests, strengths,
       carried_strengths, carried_users, carried_items, carried_interests
