"""Per-process resources of the API, reached from views through `services()`.

Like flaskr's `get_db()`: the graph store is opened lazily, once per process
(re-opened after a fork), and shared by every request thread; the SQL session
factory, event log and recommender are built with the app.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import current_app
from sqlalchemy.orm import sessionmaker

from graph_schema.store import GraphStore, StoreHolder
from service.config import ApiSettings
from service.ingest.admission import IngestGate
from service.ingest.applier import BackgroundApplier
from service.ingest.eventlog import EventLog
from service.ingest.intake import IntakeResources
from service.ingest.pool import IngestPool
from service.loop.experiments import Experiments
from service.recs.recommender import Recommender

log = logging.getLogger(__name__)

EXTENSION = "interest_graph"


@dataclass
class Services:
    settings: ApiSettings
    sessions: sessionmaker
    store_holder: StoreHolder
    eventlog: EventLog
    recommender: Recommender
    experiments: Experiments
    applier: BackgroundApplier  # INGEST_APPLY=background: applies the log to the graph behind the requests
    ingest_pool: IngestPool  # INGEST_NICE > 0: event batches taken in a niced child process
    ingest_gate: IngestGate  # INGEST_MAX_BATCHES: how many ingest batches this worker takes at once

    def intake(self) -> IntakeResources:
        """What POST /v1/events needs when it runs in the request thread."""
        return IntakeResources(self.settings, self.eventlog, self.store, self.applier)

    def store(self) -> GraphStore:
        return self.store_holder.get()


def services() -> Services:
    return current_app.extensions[EXTENSION]
