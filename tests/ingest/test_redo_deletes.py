"""Privacy deletes racing a graph write: after each batch is written, exactly the
users of that batch tombstoned since its events were read are deleted again.
The check reads the recent tombstones by their own index (privacy._RECENT_DELETES)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import inspect

from graph_schema.clock import now_ms
from graph_schema.rows import Interaction
from graph_schema.store import GraphStore, StoreUnavailable
from records.tables import DeletedUser, get_engine
from service.ingest import privacy
from service.ingest.eventlog import Batch, EventLog
from service.ingest.graph_writer import GraphWriter
from service.ingest.privacy import _RECENT_DELETES
from tests.ingest.test_eventlog import FlakyStore, ev
from tests.ingest.test_pipeline import events


class RecordingStore:
    """Records delete_user calls (the re-deletes) and does nothing else."""

    def __init__(self) -> None:
        self.deleted: list[str] = []

    def delete_user(self, user_id: str) -> int:
        self.deleted.append(user_id)
        return 0


def tombstone(log: EventLog, **deleted_at: int) -> None:
    with log.sessions.begin() as s:
        s.add_all([DeletedUser(user_id=u, deleted_at=t) for u, t in deleted_at.items()])


def test_only_the_batchs_users_tombstoned_since_its_read_are_deleted_again(event_log: EventLog) -> None:
    read_at = 1_700_000_000_000
    batch = Batch("b", [Interaction(u, "i", 1.0, 1) for u in ("at", "slack", "after", "before")], read_at=read_at)
    tombstone(
        event_log,
        before=read_at - 2,  # deleted before the read: the batch's events came after it
        slack=read_at - 1,  # within the 1 ms of clock slack: deleted again
        at=read_at,
        after=read_at + 5_000,
        elsewhere=read_at + 5_000,  # recent, but not in this batch
    )
    store = RecordingStore()
    privacy.redo_deletes(event_log, store, batch)  # type: ignore[arg-type]
    assert sorted(store.deleted) == ["after", "at", "slack"]


def test_no_recent_tombstone_no_delete(event_log: EventLog) -> None:
    tombstone(event_log, u1=1_000)
    store = RecordingStore()
    privacy.redo_deletes(event_log, store, Batch("b", [Interaction("u1", "i", 1.0, 1)]))  # type: ignore[arg-type]
    privacy.redo_deletes(event_log, store, Batch("b", []))  # type: ignore[arg-type]
    assert store.deleted == []


def test_a_user_deleted_before_the_batch_stays_and_one_deleted_during_its_write_goes(
    store: GraphStore, event_log: EventLog
) -> None:
    # "back" was deleted a minute ago and has sent new events since: a user again
    tombstone(event_log, back=now_ms() - 60_000)
    event_log.accept(events([ev("b1", user="back"), ev("d1", user="during"), ev("k1", user="kept")]))
    redone: list[str] = []

    class DeleteMidWrite(FlakyStore):
        def apply_interactions(self, *a: Any, **kw: Any) -> bool:
            privacy.delete_user(event_log, store, "during")  # the graph delete runs before this write
            privacy.delete_user(event_log, store, "elsewhere")  # recent, but not in this batch
            return store.apply_interactions(*a, **kw)  # ... which re-creates "during"

        def delete_user(self, user_id: str) -> int | None:
            redone.append(user_id)
            return store.delete_user(user_id)

    report = GraphWriter(event_log).apply_pending(DeleteMidWrite(store, 0, False))  # type: ignore[arg-type]
    assert report.error is None and report.applied == 3
    assert redone == ["during"]
    assert not store.user_exists("during")
    assert store.user_exists("back") and store.user_exists("kept")


def test_get_engine_adds_the_tombstone_index_to_an_existing_database(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:  # deleted_users as create_all made it before the index
        db.execute("CREATE TABLE deleted_users (user_id VARCHAR(200) PRIMARY KEY, deleted_at BIGINT NOT NULL)")
        db.execute("INSERT INTO deleted_users VALUES ('u', 1)")
    engine = get_engine(f"sqlite:///{path}")
    assert "ix_deleted_users_deleted_at" in {i["name"] for i in inspect(engine).get_indexes("deleted_users")}
    with engine.connect() as conn:
        sql = str(_RECENT_DELETES.compile(engine))
        plan = " ".join(r[3] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", (0,)))
        assert "USING INDEX ix_deleted_users_deleted_at" in plan
        assert conn.execute(_RECENT_DELETES, {"since": 0}).scalars().all() == ["u"]


def test_a_re_delete_lost_to_a_graph_failure_is_made_by_the_next_apply(store: GraphStore, event_log: EventLog) -> None:
    # x's batch is on its way to the graph when x is deleted, and the graph goes
    # away right after the write: the re-delete fails, x stays for now ...
    event_log.accept(events([ev("x1", user="x"), ev("y1", user="y")]))

    class DeleteMidWriteThenDown(FlakyStore):
        def apply_interactions(self, *a: Any, **kw: Any) -> bool:
            privacy.delete_user(event_log, store, "x")
            return store.apply_interactions(*a, **kw)  # re-creates x

        def delete_user(self, user_id: str) -> int | None:
            raise StoreUnavailable("down after the write")

    report = GraphWriter(event_log).apply_pending(DeleteMidWriteThenDown(store, 0, False))  # type: ignore[arg-type]
    assert report.error and store.user_exists("x")
    # ... a user who came back after a delete (new events since) is not touched ...
    tombstone(event_log, back=now_ms() - 60_000)
    event_log.accept(events([ev("b1", user="back")]))
    # ... and the next apply_pending deletes x again
    assert GraphWriter(event_log).apply_pending(store).error is None
    assert not store.user_exists("x") and store.user_exists("y") and store.user_exists("back")
