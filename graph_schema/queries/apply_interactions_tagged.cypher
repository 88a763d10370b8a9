// apply_interactions with the live evidence computed by the graph, from the items'
// TAGGED edges as they are in this transaction: what the store sends when the
// catalogue changed since it read the tags it encoded a batch with (a catalogue
// being synced while events arrive), so that no batch waits on the catalogue.
// Same $users rows as apply_interactions.cypher (interest rows are ignored); an item
// row of several events carries their folded evidence term as row[5].
// Costs the graph's writer about twice what apply_interactions does (traversal and
// per-(user, interest) aggregation); the store goes back to its cache afterwards.
// Neo4j runs transactions read-committed and takes no read locks: write-lock the
// Catalogue node (any write takes its exclusive lock, held to commit) before reading
// its revision or any tag, so that a re-tag (upsert_items writes the revision first)
// either committed before this batch reads anything or waits until it has committed
// (tests/store/test_engine_semantics.py). Also serialises batches on Neo4j, as
// FalkorDB's single writer does, so concurrent batches cannot deadlock on shared nodes.
// Text tags (source 'text') count only when written by the published model version
// (read after the lock, like the tags).
MERGE (lock:Catalogue {id: 'catalogue'})
SET lock.ingest_lock = true
WITH count(lock) AS locked
OPTIONAL MATCH (done:IngestBatch {id: $batch_id})
WITH done WHERE done IS NULL
CREATE (:IngestBatch {id: $batch_id, applied_at: timestamp(), rows: $n_rows, attempt: $attempt})
WITH 1 AS marked
OPTIONAL MATCH (m:ModelRegistry {id: 'current'})
WITH m.model_version AS published
UNWIND $users AS user_rows
MERGE (u:User {id: user_rows[0]})
ON CREATE SET u.rev = timestamp() * 1000 + toInteger(rand() * 1000)
WITH published, u, user_rows
UNWIND user_rows[1] AS row
MERGE (i:Item {id: row[0]})
MERGE (u)-[r:INTERACTED]->(i)
ON CREATE SET r.weight = row[1], r.count = coalesce(row[3], 1),
              r.first_ts = $t0 + coalesce(row[4], row[2]), r.last_ts = $t0 + row[2]
ON MATCH SET r.weight = r.weight + row[1], r.count = r.count + coalesce(row[3], 1),
             r.first_ts = CASE WHEN $t0 + coalesce(row[4], row[2]) < r.first_ts
                               THEN $t0 + coalesce(row[4], row[2]) ELSE r.first_ts END,
             r.last_ts = CASE WHEN $t0 + row[2] > r.last_ts THEN $t0 + row[2] ELSE r.last_ts END
// the WITH before the TAGGED match: without it FalkorDB plans the traversal far worse
WITH published, u, i, coalesce(row[5], row[1]) AS ev_w, $t0 + row[2] AS ev_ts
MATCH (i)-[t:TAGGED]->(it:Interest)
WHERE coalesce(t.source, 'catalogue') <> 'text' OR t.model_version = published
WITH u, it, max(ev_ts) AS tmax, collect([ev_w * coalesce(t.weight, 1.0), ev_ts]) AS terms
WITH u, it, tmax, reduce(s = 0.0, x IN terms | s + x[0] * exp(-1.0 * (tmax - x[1]) / $tau_ms)) AS add
MERGE (u)-[e:INTERESTED_IN]->(it)
ON CREATE SET e.evidence = add, e.evidence_ts = tmax
ON MATCH SET e.evidence = CASE
                 WHEN e.evidence IS NULL THEN add
                 WHEN tmax >= e.evidence_ts THEN e.evidence * exp(-1.0 * (tmax - e.evidence_ts) / $tau_ms) + add
                 ELSE e.evidence + add * exp(-1.0 * (e.evidence_ts - tmax) / $tau_ms) END,
             e.evidence_ts = CASE WHEN e.evidence_ts IS NULL OR tmax > e.evidence_ts THEN tmax ELSE e.evidence_ts END
RETURN count(e) AS evidence_edges
