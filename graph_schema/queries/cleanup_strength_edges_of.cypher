// cleanup_strength_edges.cypher for the INTERESTED_IN edges of $user_ids only: after an
// incremental publish, the strengths to clear are the re-fitted users' (their old ones that
// the new top lists dropped); every other user's were carried into the published version.
// Grows with the users re-fitted, where the full pass grows with the graph (1.7 s of a
// 1M-event incremental refresh). What other runs left elsewhere waits for a full run's pass.
UNWIND $user_ids AS user_id
MATCH (:User {id: user_id})-[r:INTERESTED_IN]->(:Interest)
WHERE (r.model_version IS NOT NULL AND r.model_version <> $model_version)
   OR (r.next_model_version IS NOT NULL AND r.next_model_version <> $model_version)
WITH r,
     r.model_version IS NOT NULL AND r.model_version <> $model_version AS stale,
     r.next_model_version IS NOT NULL AND r.next_model_version <> $model_version AS staged
SET r.strength = CASE WHEN stale THEN null ELSE r.strength END,
    r.updated_at = CASE WHEN stale THEN null ELSE r.updated_at END,
    r.model_version = CASE WHEN stale THEN null ELSE r.model_version END,
    r.next_strength = CASE WHEN staged THEN null ELSE r.next_strength END,
    r.next_updated_at = CASE WHEN staged THEN null ELSE r.next_updated_at END,
    r.next_model_version = CASE WHEN staged THEN null ELSE r.next_model_version END
RETURN count(r) AS n, sum(CASE WHEN stale THEN 1 ELSE 0 END) AS cleared,
       sum(CASE WHEN staged THEN 1 ELSE 0 END) AS staged
