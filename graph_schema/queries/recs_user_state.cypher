// Freshness of a user's cached recommendations (always one row).
//   known:         the user node exists
//   rev:           [the user's incarnation (User.rev, set when the node is created),
//                   the user's interaction count (sum of INTERACTED.count)]; every
//                   applied ingest batch touching the user raises the count, and a
//                   user deleted and re-created has a new incarnation
//   model_version: the published model version (ModelRegistry pointer)
// A cached answer stays valid while (known, rev, model_version) are unchanged.
// The count costs one pass over the user's INTERACTED edges; a per-batch counter on
// the user node would cost ingestion a re-index of the node (FalkorDB, ~10 us each).
OPTIONAL MATCH (m:ModelRegistry {id: 'current'})
OPTIONAL MATCH (u:User {id: $user_id})
OPTIONAL MATCH (u)-[r:INTERACTED]->()
WITH m, u, sum(r.count) AS interactions
RETURN u IS NOT NULL AS known, [u.rev, interactions] AS rev, m.model_version AS model_version
