"""Flask REST API, scheduler, ingestion and CLI of the interest graph service."""
