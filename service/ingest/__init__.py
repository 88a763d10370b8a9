"""Ingestion: validated events -> durable SQL event log -> graph batches."""
