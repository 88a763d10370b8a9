// What model is published, and how much of the graph does it cover? Its version,
// publication time (epoch ms) and metrics, with the users/items carrying its
// embeddings and its SIMILAR_TO edges.
// params: {}
MATCH (m:ModelRegistry {id: 'current'})
OPTIONAL MATCH (u:User) WHERE u.model_version = m.model_version
WITH m, count(u) AS users_embedded
OPTIONAL MATCH (i:Item) WHERE i.model_version = m.model_version
WITH m, users_embedded, count(i) AS items_embedded
OPTIONAL MATCH (:Item)-[s:SIMILAR_TO]->(:Item) WHERE s.model_version = coalesce(m.similar_version, m.model_version)
RETURN m.model_version AS model_version, coalesce(m.similar_version, m.model_version) AS similar_version, m.published_at AS published_at_ms, m.metrics AS metrics,
       users_embedded, items_embedded, count(s) AS similar_edges
