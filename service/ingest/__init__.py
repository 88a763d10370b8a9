"""Ingestion: validated events -> durable SQL event log (eventlog) -> graph batches
(graph_writer). Beside them: privacy deletes, catalogue records, replay of a log
into a graph, and the MovieLens-100K import."""
