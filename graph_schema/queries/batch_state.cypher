// Why did apply_interactions write no evidence: was the batch applied (and by which
// attempt: each sending of a batch carries its own), and what is the catalogue
// revision now? (always one row)
OPTIONAL MATCH (b:IngestBatch {id: $batch_id})
OPTIONAL MATCH (c:Catalogue {id: 'catalogue'})
RETURN b IS NOT NULL AS applied, b.attempt AS attempt, coalesce(c.rev, 0) AS catalogue_rev
