"""The console's browser tests: a real server (gunicorn on 127.0.0.1) over the embedded
store with part of MovieLens-100K imported and a published model, driven by Playwright
through Debian's headless Chromium.

- `site`: the server, its settings and one API key per role (session scope).
- `browser`: Chromium (CHROMIUM=/path, else chromium / chromium-browser / google-chrome on
  PATH). Missing: skipped, or failed under TEST_ENGINES=required (as CI runs).
- `page_as(role)`: a new signed-in page for a role.

Screenshots go to a temporary directory, or to CONSOLE_SCREENSHOTS (`make screenshots`
sets docs/console) — so an ordinary test run never rewrites tracked files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from graph_schema.store import open_store
from graph_schema.store.factory import embedded_server
from records.keys import ROLES, create_key
from records.tables import session_factory
from service.config import ApiSettings
from tests import engines

ROOT = Path(__file__).resolve().parents[2]
USERS = 300  # MovieLens users 1..300 with all their ratings (about a third of the ratings)
# a small, quick model: the tests are about the pages, not its quality
TRAINING = {
    "train_dim": 8,
    "train_layers": 1,
    "train_epochs": 3,
    "refresh_similar_k": 10,
    "refresh_ease_max_items": 100,
    # the user page recomputes evidence from the log with today's tags; text tags written by the
    # refresh after the import would count there but not in the evidence the graph accumulated
    # before them (docs/console.md), and the tests compare the two
    "text_tags": False,
}
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@dataclass
class Site:
    url: str
    settings: ApiSettings
    keys: dict[str, str]
    shots: Path

    def store(self) -> Any:
        return open_store(self.settings)


def chromium_path() -> str | None:
    given = os.environ.get("CHROMIUM")
    if given:
        return given
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


def _unavailable(reason: str) -> None:
    if engines.mode() == "required":
        pytest.fail(f"the console's browser tests cannot run and TEST_ENGINES=required: {reason}", pytrace=False)
    pytest.skip(f"{reason}; `make test` installs it")


def _import_movielens(settings: ApiSettings) -> None:
    from service.ingest.eventlog import EventLog
    from service.ingest.movielens import import_dataset
    from training.movielens import load

    ml = load()
    keep = {str(u) for u in range(1, USERS + 1)}
    ml = dataclasses.replace(
        ml,
        users=[u for u in ml.users if str(u["user_id"]) in keep],
        ratings=[r for r in ml.ratings if r[0] in keep],
    )
    with open_store(settings) as store:
        store.migrate()
        import_dataset(store, EventLog(settings), ml)


def _publish_model(settings: ApiSettings) -> None:
    from service.jobs.refresh import run_job

    with open_store(settings) as store:
        outcome = run_job(store, settings, "full", trigger="test", device="cpu")
    assert outcome.result.status == "published", outcome.result.reason


def _healthy(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    finally:
        conn.close()


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    pytest.importorskip("dgl")
    data_dir = tmp_path_factory.mktemp("console-data")
    settings = ApiSettings(
        data_dir=data_dir, graph_uri=None, database_url=f"sqlite:///{data_dir / 'console.sqlite3'}", **TRAINING
    )
    server = embedded_server(settings)
    server.ensure_running()
    proc = None
    try:
        _import_movielens(settings)
        _publish_model(settings)
        sessions = session_factory(settings.sql_url)
        keys = {role: create_key(sessions, role, name=f"console-{role}") for role in ROLES}
        port = engines.free_port()
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            "DATA_DIR": str(data_dir),
            "DATABASE_URL": settings.database_url or "",
            "AUTH_DISABLED": "0",
            "CONSOLE_CACHE_S": "1",
            **{k.upper(): str(v) for k, v in TRAINING.items()},
            "REFRESH_DEVICE": "cpu",
        }
        env.pop("GRAPH_URI", None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", "1", "-k", "gthread", "--threads", "8",
             "-b", f"127.0.0.1:{port}", "service.app:create_app()"],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError):
                if _healthy(port):
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode()[-3000:] if proc.stderr and proc.poll() is not None else ""
                raise RuntimeError(f"the console's server did not start: {err}")
            time.sleep(0.2)
        shots = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path_factory.mktemp("console-shots"))
        shots.mkdir(parents=True, exist_ok=True)
        yield Site(f"http://127.0.0.1:{port}", settings, keys, shots)
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the Python package playwright is not installed (requirements-dev.txt)")
    path = chromium_path()
    if path is None:
        _unavailable("no Chromium found (apt-get install chromium, or set CHROMIUM=/path)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page_as(site: Site, browser: Any) -> Iterator[Callable[[str], Any]]:
    contexts: list[Any] = []

    def open_page(role: str) -> Any:
        context = browser.new_context(viewport={"width": 1360, "height": 900}, accept_downloads=True)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        sign_in(page, site, site.keys[role])
        return page

    yield open_page
    for context in contexts:
        context.close()


def sign_in(page: Any, site: Site, key: str) -> None:
    page.goto(f"{site.url}/console/login")
    page.fill("input[name=api_key]", key)
    page.click("button[type=submit]")
    page.wait_for_load_state("domcontentloaded")
