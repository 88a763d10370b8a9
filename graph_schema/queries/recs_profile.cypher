// Recommendation profile of one user in one round trip (no row: unknown user).
//   interactions: how many items the user interacted with (0 -> cold start)
//   seen:         ids of the user's items, most recent first, at most $seen_limit
//   recent:       [item_id, title, weight, last_ts] of the $anchors most recent items
//                 (the anchors whose neighbours become candidates; titles name the evidence)
//   interests:    [interest_id, name, strength, model_version, evidence, evidence_ts]
//   embedding / model_version: the user's vector from the published model, if any
//   ranking:      [items, scores, because, at]: the learned ranking the refresh wrote (nulls: none)
//   followed:     [user_id, tie, item_id, weight, last_ts] of what the people the user follows
//                 took, newest first, at most $social_rows (the social source; strongest tie
//                 when a user is both followed and a friend)
//   published:    [version, published_at] of the published model (ModelRegistry pointer;
//                 nulls before any): the pair names one publish, even if a version is reused
// One round trip is all a computed answer asks of the graph (the rest is in the
// worker's snapshots): see service/recs/recommender.py.
// An OPTIONAL MATCH without rows yields one [null, ...] entry: callers skip null ids.
// queries/falkordb/recs_profile.cypher returns the same map as one toJSON() string.
MATCH (u:User {id: $user_id})
OPTIONAL MATCH (m:ModelRegistry {id: 'current'})
WITH u, [m.model_version, m.published_at] AS published
OPTIONAL MATCH (u)-[r:INTERACTED]->(i:Item)
WITH u, published, r, i ORDER BY r.last_ts DESC, r.weight DESC
WITH u, published, count(i) AS n, collect(i.id)[..$seen_limit] AS seen,
     collect([i.id, i.title, r.weight, r.last_ts])[..$anchors] AS recent
OPTIONAL MATCH (u)-[e:INTERESTED_IN]->(t:Interest)
WITH u, published, n, seen, recent,
     collect([t.id, t.name, e.strength, e.model_version, e.evidence, e.evidence_ts]) AS interests
OPTIONAL MATCH (u)-[f:FOLLOWS]->(v:User)
WITH u, published, n, seen, recent, interests, v, max(f.weight) AS tie
OPTIONAL MATCH (v)-[fr:INTERACTED]->(fi:Item)
WITH u, published, n, seen, recent, interests, v, tie, fr, fi
ORDER BY fr.last_ts DESC, fi.id, v.id
WITH u, published, n, seen, recent, interests,
     collect(CASE WHEN fi IS NULL THEN NULL ELSE [v.id, tie, fi.id, fr.weight, fr.last_ts] END)[..$social_rows] AS followed
RETURN {interactions: n, seen: seen, recent: recent, interests: interests,
        embedding: u.embedding, model_version: u.model_version,
        ranking: [u.recs_items, u.recs_scores, u.recs_because, u.recs_at],
        followed: followed, published: published} AS profile
