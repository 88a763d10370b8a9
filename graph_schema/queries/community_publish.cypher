// Point readers at the communities of $version (written completely before).
MERGE (p:CommunityRegistry {id: 'current'})
SET p.model_version = $version, p.published_at = $written_at
RETURN p.model_version AS model_version
