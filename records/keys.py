"""API keys with roles, stored hashed in SQL (the Flask guard is service/auth.py).

A key is ``ig_`` + 43 url-safe characters (32 random bytes). Only its SHA-256
is stored (a salted slow hash buys nothing for 256-bit random secrets), plus a
short prefix to tell keys apart in listings.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import sessionmaker

from graph_schema.clock import now_ms
from records.tables import ApiKey

ROLES = ("ingest", "read", "analyst", "admin")
KEY_PREFIX = "ig_"


@dataclass(frozen=True)
class Principal:
    key_id: int | None
    role: str
    name: str | None = None

    def allowed(self, roles: tuple[str, ...]) -> bool:
        return self.role == "admin" or self.role in roles


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(sessions: sessionmaker, role: str, name: str | None = None) -> str:
    """Store a new key's hash and return the key itself (shown once, never stored)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with sessions.begin() as session:
        session.add(ApiKey(prefix=key[:10], key_hash=hash_key(key), role=role, name=name, created_at=now_ms()))
    return key


def list_keys(sessions: sessionmaker) -> list[dict[str, Any]]:
    with sessions() as session:
        rows = session.scalars(select(ApiKey).order_by(ApiKey.id)).all()
    return [
        {
            "id": r.id,
            "prefix": r.prefix,
            "role": r.role,
            "name": r.name,
            "created_at": r.created_at,
            "revoked_at": r.revoked_at,
        }
        for r in rows
    ]


def revoke_key(sessions: sessionmaker, key_id: int) -> bool:
    with sessions.begin() as session:
        res = session.execute(
            update(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None)).values(revoked_at=now_ms())
        )
        return bool(res.rowcount)


class KeyResolver:
    """Looks keys up by hash, caching answers (positive and negative) briefly."""

    def __init__(self, sessions: sessionmaker, ttl_s: float) -> None:
        self.sessions = sessions
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

    def resolve(self, key: str) -> Principal | None:
        digest = hash_key(key)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        with self.sessions() as session:
            row = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
        principal = Principal(row.id, row.role, row.name) if row is not None and row.revoked_at is None else None
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (now + self.ttl_s, principal)
        return principal
