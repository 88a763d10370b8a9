// Why did apply_interactions write nothing: was the batch applied before, and what
// is the catalogue revision now? (always one row)
OPTIONAL MATCH (b:IngestBatch {id: $batch_id})
OPTIONAL MATCH (c:Catalogue {id: 'catalogue'})
RETURN b IS NOT NULL AS applied, coalesce(c.rev, 0) AS catalogue_rev
