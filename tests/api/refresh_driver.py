"""Runs one refresh job in its own process and parks it at a chosen point, so a test can
kill it with SIGKILL there:

    python -m tests.api.refresh_driver SETTINGS_JSON PHASE MARKER_FILE

PHASE pull or train: parks when the phase starts (the lease is held, the run row says
`running`). PHASE write: parks after the run's SIMILAR_TO edges are written, before its
strengths are staged, so the graph holds staged rows of a version never published.
PHASE publish: parks after the first batch of a batched publish (set REFRESH_PUBLISH_BATCH
below the user count), so the graph holds a publish under way.
The store is the real one; the driver only decides where the process stops.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from graph_schema.settings import Settings
from graph_schema.store import GraphStore, open_store
from service.jobs.refresh import run_job


class ParkBeforeStrengths:
    """The real store, parking the process when the run starts staging strengths."""

    def __init__(self, store: GraphStore, park: Callable[[], None]) -> None:
        self._store, self._park = store, park

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def stage_interest_strengths(self, rows: Sequence[dict[str, Any]]) -> int:
        self._park()
        return self._store.stage_interest_strengths(rows)


def park_after_first_batch(store: GraphStore, park: Callable[[], None]) -> None:
    """Park the process once the store's first publish batch has committed."""
    named_write = store._named_write

    def write(name: str, /, **params: Any) -> list[dict[str, Any]]:
        rows = named_write(name, **params)
        if name == "publish_users_batch":
            park()
        return rows

    store._named_write = write  # type: ignore[method-assign]


def main(settings_json: str, phase: str, marker: str) -> None:
    settings = Settings.model_validate_json(settings_json)

    def park() -> None:
        Path(marker).write_text(str(os.getpid()))
        while True:
            time.sleep(1)

    def on_phase(name: str) -> None:
        if name == phase and phase != "write":
            park()

    with open_store(settings) as store:
        if phase == "publish":
            park_after_first_batch(store, park)
        target: Any = ParkBeforeStrengths(store, park) if phase == "write" else store
        run_job(target, settings, "full", trigger="kill-test", force=True, on_phase=on_phase)


if __name__ == "__main__":
    main(*sys.argv[1:4])
