// Has this ingest batch already been applied? (exactly-once bookkeeping)
MATCH (b:IngestBatch {id: $batch_id}) RETURN count(b) AS n
