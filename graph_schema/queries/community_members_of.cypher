// Members of each community of one version (the previous run's, to keep ids stable).
MATCH (u:User)-[m:MEMBER_OF]->(c:Community)
WHERE m.model_version = $version
RETURN c.id AS community_id, collect(u.id) AS members
