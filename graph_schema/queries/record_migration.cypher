MERGE (m:SchemaMigration {version: $version})
SET m.name = $name, m.applied_at = timestamp()
RETURN m.version AS version
