// The versions that have communities, newest written first (version strings of runs in
// the same second do not sort by time).
MATCH (c:Community)
WITH c.model_version AS model_version, max(c.written_at) AS written_at
RETURN model_version
ORDER BY written_at DESC, model_version DESC
