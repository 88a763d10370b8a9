"""GraphStore and its backends; `open_store()` picks one from the settings."""

from graph_schema.store.base import (
    GraphStore,
    InvalidQuery,
    QueryTimeout,
    ReadOnlyViolation,
    StoreError,
    StoreUnavailable,
)
from graph_schema.store.factory import embedded_server, open_store

__all__ = [
    "GraphStore",
    "InvalidQuery",
    "QueryTimeout",
    "ReadOnlyViolation",
    "StoreError",
    "StoreUnavailable",
    "embedded_server",
    "open_store",
]
