// The refresh job's copy of a published version's user strengths into the SQL history
// (records.strength_history): the users the run itself wrote (refreshed since it started;
// an incremental run's carried users keep their older refreshed_at), one keyset page of
// ids at a time.
MATCH (u:User)
WHERE u.id > $after AND u.model_version = $model_version AND u.refreshed_at >= $refreshed_since
RETURN u.id AS user_id, u.top_interests AS interests, u.interest_strengths AS strengths
ORDER BY u.id
LIMIT $limit
