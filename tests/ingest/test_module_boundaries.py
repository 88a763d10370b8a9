"""Import boundaries of the ingest split: the event log is SQL only, and the
MovieLens reader the service uses is torch-free."""

from __future__ import annotations

import subprocess
import sys


def _imported_after(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return set(out.split())


def test_the_event_log_does_not_import_the_graph_store() -> None:
    assert not {m for m in _imported_after("service.ingest.eventlog") if m.startswith("graph_schema.store")}


def test_the_movielens_reader_the_service_uses_is_torch_free() -> None:
    imported = _imported_after("service.ingest.movielens")
    assert "training.movielens" in imported
    assert not {m.split(".")[0] for m in imported} & {"torch", "dgl", "recbole"}
