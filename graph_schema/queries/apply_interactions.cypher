// Apply one ingest batch atomically and at most once.
// $rows are pre-aggregated per (user_id, item_id) by the store, so every MERGE
// below touches a distinct key (FalkorDB 4.16 crashed on repeated keys).
//   row: {user_id, item_id, weight, count, first_ts, last_ts, ev_w, ev_ts}
//   ev_w/ev_ts: the row's events folded into one decayed term at ev_ts.
// The IngestBatch marker makes a retried batch a no-op (exactly-once).
OPTIONAL MATCH (done:IngestBatch {id: $batch_id})
WITH done WHERE done IS NULL
CREATE (:IngestBatch {id: $batch_id, applied_at: timestamp(), rows: size($rows)})
WITH 1 AS _
UNWIND $rows AS row
MERGE (u:User {id: row.user_id})
// rev: strictly increasing per user, so cached recommendations see every change
SET u.rev = CASE WHEN u.rev IS NULL OR u.rev < timestamp() THEN timestamp() ELSE u.rev + 1 END
MERGE (i:Item {id: row.item_id})
MERGE (u)-[r:INTERACTED]->(i)
ON CREATE SET r.weight = row.weight, r.count = row.count,
              r.first_ts = row.first_ts, r.last_ts = row.last_ts
ON MATCH SET r.weight = r.weight + row.weight, r.count = r.count + row.count,
             r.first_ts = CASE WHEN row.first_ts < r.first_ts THEN row.first_ts ELSE r.first_ts END,
             r.last_ts = CASE WHEN row.last_ts > r.last_ts THEN row.last_ts ELSE r.last_ts END
WITH collect(row) AS rows
UNWIND rows AS row
MATCH (:Item {id: row.item_id})-[t:TAGGED]->(it:Interest)
WITH row.user_id AS user_id, it, row.ev_ts AS ts, row.ev_w * coalesce(t.weight, 1.0) AS w
WITH user_id, it, max(ts) AS tmax, collect([w, ts]) AS terms
WITH user_id, it, tmax,
     reduce(s = 0.0, x IN terms | s + x[0] * exp(-1.0 * (tmax - x[1]) / $tau_ms)) AS add
MATCH (u:User {id: user_id})
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
