"""Named leases: cross-process locks in SQL that a dead holder cannot keep.

A lease is a row in `locks` (INSERT succeeds for exactly one holder). It is short (two
minutes by default) and a heartbeat thread renews it while its holder lives, so a
holder killed with SIGKILL frees it within one lease, not after the length of its work.
A holder on this host whose process is gone is taken over at once. The holder string is
`host:pid:token`, which makes both checks possible and tells an operator who holds it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from graph_schema.clock import now_ms
from records.tables import NamedLock

log = logging.getLogger(__name__)


class LeaseHeld(RuntimeError):
    """Another live holder has the lease."""


class LeaseLost(RuntimeError):
    """The lease lapsed or was taken over while its holder still worked."""


def holder_process_gone(holder: str) -> bool:
    """True when `holder` ran on this host and its process no longer exists."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, owned by another user
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    # a killed child its parent has not reaped yet still answers kill(pid, 0)
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def lease_row(sessions: sessionmaker, name: str) -> NamedLock | None:
    """The row of lease `name`, lapsed or not (None: nobody holds it)."""
    with sessions() as s:
        return s.get(NamedLock, name)


class Lease:
    def __init__(self, sessions: sessionmaker, name: str, ttl_s: float) -> None:
        self.sessions, self.name, self.ttl_ms = sessions, name, int(ttl_s * 1000)
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lost = threading.Event()

    def acquire(self) -> None:
        """Take the lease, or raise LeaseHeld naming who has it."""
        now = now_ms()
        current = self.current()
        with self.sessions.begin() as s:
            s.execute(delete(NamedLock).where(NamedLock.name == self.name, NamedLock.expires_at < now))
            if current is not None and holder_process_gone(current.holder):
                log.info("lease %s: holder %s is gone, taking over", self.name, current.holder)
                s.execute(delete(NamedLock).where(NamedLock.name == self.name, NamedLock.holder == current.holder))
        try:
            with self.sessions.begin() as s:
                s.add(NamedLock(name=self.name, holder=self.holder, acquired_at=now, expires_at=now + self.ttl_ms))
        except IntegrityError:
            row = self.current()
            who = (
                f"{row.holder}, since {time.strftime('%H:%M:%S', time.localtime(row.acquired_at / 1000))}"
                if row
                else "?"
            )
            raise LeaseHeld(who) from None
        self.lost.clear()

    def current(self) -> NamedLock | None:
        return lease_row(self.sessions, self.name)

    def renew(self) -> bool:
        """Extend the lease by one TTL; False (and `lost` set) if it is no longer ours."""
        with self.sessions.begin() as s:
            res = s.execute(
                update(NamedLock)
                .where(NamedLock.name == self.name, NamedLock.holder == self.holder)
                .values(expires_at=now_ms() + self.ttl_ms)
            )
        if not res.rowcount:
            self.lost.set()
        return bool(res.rowcount)

    def check(self) -> None:
        """Renew now; raise LeaseLost if another holder may have started meanwhile."""
        if self.lost.is_set() or not self.renew():
            raise LeaseLost(f"the {self.name} lease lapsed while this process held it; another may have taken it")

    def release(self) -> None:
        with self.sessions.begin() as s:
            s.execute(delete(NamedLock).where(NamedLock.name == self.name, NamedLock.holder == self.holder))

    @contextmanager
    def heartbeat(self, every_s: float | None = None) -> Iterator[None]:
        """Renew the lease from a daemon thread (every quarter TTL) while the body runs."""
        interval = every_s if every_s is not None else self.ttl_ms / 4000
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(interval):
                try:
                    if not self.renew():
                        log.error("lease %s lost by %s", self.name, self.holder)
                        return
                except Exception as exc:  # a database hiccup: try again at the next beat
                    log.warning("lease %s: renewal failed: %s", self.name, exc)

        thread = threading.Thread(target=beat, name=f"lease-{self.name}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=5)
