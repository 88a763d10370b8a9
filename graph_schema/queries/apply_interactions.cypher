// Apply one ingest batch atomically and at most once.
// $users: [user_id, item_rows, interest_rows] per user, pre-aggregated by the store
// (store/batch.py), so every MERGE below touches a distinct key (FalkorDB 4.16
// crashed on repeated keys). Positional rows, times in ms after $t0 (short text:
// the graph's single writer parses it):
//   item row:     [item_id, weight, last_ts, count, first_ts, evidence term]; the
//                 last three are left out for a single event (count 1, first_ts =
//                 last_ts, term = weight); the term is for apply_interactions_tagged
//   interest row: [k, evidence, evidence_ts]: the user's events on items tagged with
//                 $interests[k], folded (tag weight included) into one decayed term.
// The store computes the interest rows from its cache of the items' tags, so the
// graph's single writer does no TAGGED traversal or per-interest aggregation (half
// of this query's time before). The cache is valid for one catalogue revision
// (Catalogue.rev, bumped by every upsert_items): the batch is applied only if that
// is still the revision, checked in this same transaction, so the evidence always
// follows the tags the graph has when the batch lands.
// Nothing is written if the batch was applied before (the IngestBatch marker:
// exactly-once) or the catalogue moved on. Returns the evidence edges written; when
// that is 0 the store asks batch_state.cypher what happened: applied by this very
// call ($attempt is on the marker), applied before, or refused as stale (then it
// sends the batch as apply_interactions_tagged.cypher, which reads the tags itself).
// Interests are looked up once per batch, in $interests order (ORDER BY: collect
// keeps it); a missing one (deleted since the tags were read) writes nothing.
// Every user and item is looked up once (FalkorDB: ~6 us per index lookup).
// FOREACH keeps one row per user for the item rows (no re-grouping, which cost as
// much as the rest); the evidence rows come last, so a plain UNWIND will do.
// User.rev is only set when the user is created: ingestion does not touch the user
// node (on FalkorDB, any property write to an indexed node re-indexes it: ~10 us).
// Neo4j runs transactions read-committed and takes no read locks: write-lock the
// Catalogue node (any write takes its exclusive lock, held to commit) before reading
// its revision or any tag, so that a re-tag (upsert_items writes the revision first)
// either committed before this batch reads anything or waits until it has committed
// (tests/store/test_engine_semantics.py). Also serialises batches on Neo4j, as
// FalkorDB's single writer does, so concurrent batches cannot deadlock on shared nodes.
MERGE (lock:Catalogue {id: 'catalogue'})
SET lock.ingest_lock = true
WITH count(lock) AS locked
UNWIND range(0, size($interests) - 1) AS k
MATCH (it:Interest {id: $interests[k]})
WITH k, it ORDER BY k
WITH collect(it) AS its
OPTIONAL MATCH (done:IngestBatch {id: $batch_id})
OPTIONAL MATCH (c:Catalogue {id: 'catalogue'})
WITH its, done, c
WHERE done IS NULL AND coalesce(c.rev, 0) = $catalogue_rev AND size(its) = size($interests)
CREATE (:IngestBatch {id: $batch_id, applied_at: timestamp(), rows: $n_rows, attempt: $attempt})
WITH its
UNWIND $users AS user_rows
MERGE (u:User {id: user_rows[0]})
// rev: the user's incarnation (see upsert_users.cypher); the API's answer cache
// pairs it with the user's interaction count (recs_user_state.cypher)
ON CREATE SET u.rev = timestamp() * 1000 + toInteger(rand() * 1000)
FOREACH (row IN user_rows[1] |
    MERGE (i:Item {id: row[0]})
    MERGE (u)-[r:INTERACTED]->(i)
    ON CREATE SET r.weight = row[1], r.count = coalesce(row[3], 1),
                  r.first_ts = $t0 + coalesce(row[4], row[2]), r.last_ts = $t0 + row[2]
    ON MATCH SET r.weight = r.weight + row[1], r.count = r.count + coalesce(row[3], 1),
                 r.first_ts = CASE WHEN $t0 + coalesce(row[4], row[2]) < r.first_ts
                                   THEN $t0 + coalesce(row[4], row[2]) ELSE r.first_ts END,
                 r.last_ts = CASE WHEN $t0 + row[2] > r.last_ts THEN $t0 + row[2] ELSE r.last_ts END)
WITH u, its, user_rows
UNWIND user_rows[2] AS ev
WITH u, its[ev[0]] AS it, ev[1] AS add, $t0 + ev[2] AS tmax
MERGE (u)-[e:INTERESTED_IN]->(it)
ON CREATE SET e.evidence = add, e.evidence_ts = tmax
ON MATCH SET e.evidence = CASE
                 WHEN e.evidence IS NULL THEN add
                 WHEN tmax >= e.evidence_ts THEN e.evidence * exp(-1.0 * (tmax - e.evidence_ts) / $tau_ms) + add
                 ELSE e.evidence + add * exp(-1.0 * (e.evidence_ts - tmax) / $tau_ms) END,
             e.evidence_ts = CASE WHEN e.evidence_ts IS NULL OR tmax > e.evidence_ts THEN tmax ELSE e.evidence_ts END
RETURN count(e) AS evidence_edges
