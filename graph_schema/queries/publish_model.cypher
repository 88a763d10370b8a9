// Move the published-model pointer (written last by a refresh run).
MERGE (m:ModelRegistry {id: 'current'})
SET m.model_version = $model_version, m.published_at = $published_at, m.metrics = $metrics
RETURN m.model_version AS model_version
