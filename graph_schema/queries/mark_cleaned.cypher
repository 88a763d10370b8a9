// After cleanup_versions removed every other version's strengths (and lists) for the
// published $model_version: the next incremental publish from it may clean only the users
// it re-fits (cleanup_strength_edges_of.cypher). A cleanup that failed leaves the mark at
// an older version, and the next cleanup then passes over every edge.
MATCH (m:ModelRegistry {id: 'current'})
WHERE m.model_version = $model_version
SET m.cleaned_version = $model_version
RETURN count(m) AS n
