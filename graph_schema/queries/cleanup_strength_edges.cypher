// Up to $limit INTERESTED_IN edges with something to clear, in one pass over the edges (two
// passes, one per kind, took ~2 s of a 1M-event refresh): strengths written by versions other
// than the published one ($model_version), and strengths staged (next_*) by runs that never
// published, except $model_version's. The caller repeats while a batch comes back full.
MATCH (:User)-[r:INTERESTED_IN]->(:Interest)
WHERE (r.model_version IS NOT NULL AND r.model_version <> $model_version)
   OR (r.next_model_version IS NOT NULL AND r.next_model_version <> $model_version)
WITH r LIMIT $limit
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
