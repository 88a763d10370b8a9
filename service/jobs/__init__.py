"""Jobs: the refresh job (one assembly for the CLI, the scheduler, the API and the demo),
starting it in the background, and the APScheduler wiring.

May import graph_schema, records, service.ingest (the event log) and, lazily inside a
run, training. Never service.api or Flask.
"""
