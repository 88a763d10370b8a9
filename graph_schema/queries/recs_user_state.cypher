// Freshness of a user's cached recommendations, in one indexed lookup (always one row).
//   known:         the user node exists
//   rev:           bumped by every ingest batch that touches the user (apply_interactions)
//   model_version: the published model version (ModelRegistry pointer)
// A cached answer stays valid while (known, rev, model_version) are unchanged.
OPTIONAL MATCH (m:ModelRegistry {id: 'current'})
OPTIONAL MATCH (u:User {id: $user_id})
RETURN u IS NOT NULL AS known, u.rev AS rev, m.model_version AS model_version
