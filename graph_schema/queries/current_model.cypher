MATCH (m:ModelRegistry {id: 'current'})
RETURN m.model_version AS model_version, m.published_at AS published_at, m.metrics AS metrics,
       coalesce(m.similar_version, m.model_version) AS similar_version, m.cleaned_version AS cleaned_version
