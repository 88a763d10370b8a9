// The web console's interest page: the interest's popularity over time, as new
// interactions (by their first event) with its items per $bucket_ms bucket since the epoch.
// Two MATCH clauses so that every INTERACTED edge is counted (FalkorDB #2470).
MATCH (t:Interest {id: $interest_id})<-[:TAGGED]-(i:Item)
MATCH (i)<-[r:INTERACTED]-(:User)
WITH r.first_ts - (r.first_ts % $bucket_ms) AS bucket_ms, r
RETURN bucket_ms, count(r) AS interactions, sum(r.weight) AS weight
ORDER BY bucket_ms
