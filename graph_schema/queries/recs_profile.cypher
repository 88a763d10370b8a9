// Recommendation profile of one user in one round trip (no row: unknown user).
//   interactions: how many items the user interacted with (0 -> cold start)
//   seen:         ids of the user's items, most recent first, at most $seen_limit
//   recent:       [item_id, title, weight, last_ts] of the $anchors most recent items
//                 (the anchors whose neighbours become candidates; titles name the evidence)
//   interests:    [interest_id, name, strength, model_version, evidence, evidence_ts]
//   embedding / model_version: the user's vector from the published model, if any
//   ranking:      [items, scores, because, at]: the learned ranking the refresh wrote (nulls: none)
// An OPTIONAL MATCH without rows yields one [null, ...] entry: callers skip null ids.
// queries/falkordb/recs_profile.cypher returns the same map as one toJSON() string.
MATCH (u:User {id: $user_id})
OPTIONAL MATCH (u)-[r:INTERACTED]->(i:Item)
WITH u, r, i ORDER BY r.last_ts DESC, r.weight DESC
WITH u, count(i) AS n, collect(i.id)[..$seen_limit] AS seen,
     collect([i.id, i.title, r.weight, r.last_ts])[..$anchors] AS recent
OPTIONAL MATCH (u)-[e:INTERESTED_IN]->(t:Interest)
WITH u, n, seen, recent,
     collect([t.id, t.name, e.strength, e.model_version, e.evidence, e.evidence_ts]) AS interests
RETURN {interactions: n, seen: seen, recent: recent, interests: interests,
        embedding: u.embedding, model_version: u.model_version,
        ranking: [u.recs_items, u.recs_scores, u.recs_because, u.recs_at]} AS profile
