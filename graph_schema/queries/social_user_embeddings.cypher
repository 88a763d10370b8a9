// Vectors of the users $user_ids written by the published model $model_version.
UNWIND $user_ids AS uid
MATCH (w:User {id: uid})
WHERE w.embedding IS NOT NULL AND w.model_version = $model_version
RETURN w.id AS user_id, w.embedding AS embedding
