// Apply one ingest batch atomically and at most once.
// $users: [user_id, [row, ...]] per user, rows pre-aggregated per (user, item) by
// the store, so every MERGE below touches a distinct key (FalkorDB 4.16 crashed
// on repeated keys).
//   row: [item_id, weight, count, first_ts, last_ts, ev_w]  (base.INTERACTION_COLUMNS;
//   positional: half the parameter text of maps)
//   ev_w: the row's events folded into one decayed term as of last_ts.
// The IngestBatch marker makes a retried batch a no-op (exactly-once).
// Every user and item is looked up once (FalkorDB: ~6 us per index lookup): u and
// i are carried on to the evidence part instead of being matched again by id. The
// WITH before the TAGGED match is needed: without it FalkorDB plans that traversal
// far worse (measured 3x slower).
OPTIONAL MATCH (done:IngestBatch {id: $batch_id})
WITH done WHERE done IS NULL
CREATE (:IngestBatch {id: $batch_id, applied_at: timestamp(), rows: $n_rows})
WITH 1 AS _
UNWIND $users AS user_rows
MERGE (u:User {id: user_rows[0]})
// rev: strictly increasing per user, so cached recommendations see every change;
// microseconds-scale with a random low part, so a user deleted and re-created does
// not come back with a rev its cached answers were stored under
SET u.rev = CASE WHEN u.rev IS NULL OR u.rev < timestamp() * 1000 THEN timestamp() * 1000 + toInteger(rand() * 1000)
                 ELSE u.rev + 1 END
WITH u, user_rows[1] AS rows
UNWIND rows AS row
WITH u, row[0] AS item_id, row[1] AS weight, row[2] AS n, row[3] AS first_ts, row[4] AS last_ts, row[5] AS ev_w
MERGE (i:Item {id: item_id})
MERGE (u)-[r:INTERACTED]->(i)
ON CREATE SET r.weight = weight, r.count = n, r.first_ts = first_ts, r.last_ts = last_ts
ON MATCH SET r.weight = r.weight + weight, r.count = r.count + n,
             r.first_ts = CASE WHEN first_ts < r.first_ts THEN first_ts ELSE r.first_ts END,
             r.last_ts = CASE WHEN last_ts > r.last_ts THEN last_ts ELSE r.last_ts END
WITH u, i, ev_w, last_ts AS ev_ts
MATCH (i)-[t:TAGGED]->(it:Interest)
WITH u, it, max(ev_ts) AS tmax, collect([ev_w * coalesce(t.weight, 1.0), ev_ts]) AS terms
WITH u, it, tmax,
     reduce(s = 0.0, x IN terms | s + x[0] * exp(-1.0 * (tmax - x[1]) / $tau_ms)) AS add
MERGE (u)-[e:INTERESTED_IN]->(it)
ON CREATE SET e.evidence = add, e.evidence_ts = tmax
ON MATCH SET e.evidence = CASE
                 WHEN e.evidence IS NULL THEN add
                 WHEN tmax >= e.evidence_ts THEN e.evidence * exp(-1.0 * (tmax - e.evidence_ts) / $tau_ms) + add
                 ELSE e.evidence + add * exp(-1.0 * (e.evidence_ts - tmax) / $tau_ms) END,
             e.evidence_ts = CASE
                 WHEN e.evidence_ts IS NULL OR tmax > e.evidence_ts THEN tmax
                 ELSE e.evidence_ts END
RETURN count(e) AS evidence_edges
