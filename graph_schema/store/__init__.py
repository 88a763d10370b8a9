"""GraphStore and its backends; `open_store()` picks one from the settings."""

from graph_schema.store.base import (
    InvalidQuery,
    PreparedBatch,
    QueryTimeout,
    ReadOnlyViolation,
    StoreError,
    StoreUnavailable,
)
from graph_schema.store.factory import embedded_server, open_store
from graph_schema.store.graph_store import GraphStore
from graph_schema.store.holder import StoreHolder

__all__ = [
    "GraphStore",
    "InvalidQuery",
    "PreparedBatch",
    "QueryTimeout",
    "ReadOnlyViolation",
    "StoreError",
    "StoreHolder",
    "StoreUnavailable",
    "embedded_server",
    "open_store",
]
