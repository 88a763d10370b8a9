// The publish under way (publish_intent.cypher), if any: no row, or a null version, when none.
MATCH (m:ModelRegistry {id: 'current'})
RETURN m.publishing AS model_version, m.publishing_carry_from AS carry_from,
       m.publishing_similar_version AS similar_version, m.publishing_metrics AS metrics,
       m.publishing_at AS published_at
