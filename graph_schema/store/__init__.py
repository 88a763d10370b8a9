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
from graph_schema.store.holder import StoreHolder

__all__ = [
    "GraphStore",
    "InvalidQuery",
    "QueryTimeout",
    "ReadOnlyViolation",
    "StoreError",
    "StoreHolder",
    "StoreUnavailable",
    "embedded_server",
    "open_store",
]
