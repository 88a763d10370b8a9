// The first step of a publish too large for one transaction (more users or items than
// REFRESH_PUBLISH_BATCH; publish_model.cypher is the whole publish in one): record on the
// pointer node which version is being published and how, before any staged row moves.
// From here the publish only rolls forward: whichever process finds `publishing` set
// (store.finish_publish, at the start of every refresh run) promotes what is left and
// moves the pointer, with the publish time recorded here; cleanup never removes the
// staged rows of a version being published, and no serving snapshot is built meanwhile.
// No row: another version's publish is under way (it must be finished first).
MERGE (m:ModelRegistry {id: 'current'})
WITH m WHERE m.publishing IS NULL OR m.publishing = $model_version
SET m.publishing = $model_version, m.publishing_carry_from = $carry_from,
    m.publishing_similar_version = $similar_version, m.publishing_metrics = $metrics,
    m.publishing_at = coalesce(m.publishing_at, $published_at)
RETURN m.publishing AS publishing
