"""What the graph store can be sent as analyst query parameters (events and items are
checked by service.ingest.schemas)."""

from __future__ import annotations

import re
from typing import Any

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def unsendable(value: Any, is_id: bool = False) -> str | None:
    """Why a value cannot travel to the graph store, or None.

    The store's parameter encoding cannot carry a NUL (FalkorDB reads the query
    as a C string) nor a lone UTF-16 surrogate (not encodable as UTF-8), and an
    empty key cannot be a property name. FalkorDB 4.16.3 also crashes when a
    node keyed under a unique constraint gets an id with control characters
    (e.g. \\x01) or edge whitespace. Such a record would fail its graph batch on
    every retry (or take the server down), so it is rejected here, by index,
    like any other bad record.
    """
    if isinstance(value, str):
        if is_id and _CONTROL.search(value):
            return "ids must not contain control characters"
        if "\x00" in value:
            return "must not contain NUL (\\u0000) characters"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "must not contain unpaired surrogate characters"
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            why = unsendable(k) or unsendable(v)
            if why:
                return why
        return None
    if isinstance(value, (list, tuple)):
        for v in value:
            why = unsendable(v, is_id)
            if why:
                return why
    return None


_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def check_params(params: dict[str, Any]) -> str | None:
    """Why Cypher parameters cannot be sent, or None."""
    for key, value in params.items():
        if not _PARAM_NAME.match(key):
            return f"parameter name {key!r} must be an identifier ([A-Za-z_][A-Za-z0-9_]*)"
        why = unsendable(value) or _empty_keys(value)
        if why:
            return f"params.{key}: {why}"
    return None


def _empty_keys(value: Any) -> str | None:
    if isinstance(value, dict):
        if any(not str(k) for k in value):
            return "map keys must not be empty"
        for v in value.values():
            why = _empty_keys(v)
            if why:
                return why
    elif isinstance(value, list):
        for v in value:
            why = _empty_keys(v)
            if why:
                return why
    return None
