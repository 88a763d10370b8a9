// The versions that have communities, newest first.
MATCH (c:Community)
RETURN DISTINCT c.model_version AS model_version
ORDER BY model_version DESC
