"""The console in a real browser (headless Chromium), against a real server over the
embedded store with MovieLens data and a published model (conftest.py). Each test
asserts on values read from the graph, the event log or the run history themselves."""

from __future__ import annotations

import csv
import io
import re
import time
from pathlib import Path
from typing import Any

import pytest

from graph_schema.clock import now_ms
from graph_schema.decay import value_at
from records.runs import list_runs
from records.strength_history import user_history
from records.tables import session_factory
from service.console.timeline import DAY_MS, daily_points
from service.console.views import TIMELINE_TAIL_MS
from service.ingest.log_reads import user_events

from .conftest import Site, sign_in

USER = "1"  # MovieLens user 1: 272 ratings
ITEM = "50"  # Star Wars (1977)
INTEREST = "genre:sci-fi"


def shot(page: Any, site: Site, name: str) -> None:
    page.wait_for_timeout(300)  # let the charts finish their first paint
    page.screenshot(path=str(site.shots / f"{name}.png"), full_page=True)


def chart_option(page: Any, element_id: str) -> dict[str, Any]:
    page.wait_for_function(f"window.consoleCharts && window.consoleCharts[{element_id!r}]")
    return page.evaluate(f"window.consoleCharts[{element_id!r}].getOption()")


def test_sign_in_refuses_unknown_and_ingest_keys(site: Site, browser: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{site.url}/console/")
    assert page.url.startswith(f"{site.url}/console/login")  # not signed in: to the sign-in page
    shot(page, site, "sign-in")
    sign_in(page, site, "ig_not-a-key")
    assert "unknown or revoked" in page.inner_text("#login-error")
    sign_in(page, site, site.keys["ingest"])
    assert "ingest key cannot use the console" in page.inner_text("#login-error")
    sign_in(page, site, site.keys["read"])
    assert page.url == f"{site.url}/console/"
    assert page.inner_text("#role").endswith("read")
    cookie = next(c for c in context.cookies() if c["name"] == "ig_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"
    assert site.keys["read"] not in page.url
    context.close()


def test_overview_shows_the_graph_the_log_and_the_model(site: Site, page_as: Any) -> None:
    page = page_as("admin")
    with site.store() as store:
        counts = store.counts()
        model = store.current_model()
    for label in ("User", "Item", "Interest"):
        assert page.inner_text(f'[data-count="{label}"]') == f"{counts['nodes'][label]:,}"
    assert page.inner_text('[data-count="INTERACTED"]') == f"{counts['relationships']['INTERACTED']:,}"
    assert page.inner_text("#model-version") == model["model_version"]
    assert page.inner_text('[data-metric="ndcg@20"]') == f"{model['metrics']['ndcg@20']:.4f}"
    assert page.inner_text('[data-health="graph"]') == "ok" and page.inner_text('[data-health="sql"]') == "ok"
    assert page.inner_text('[data-events="pending"]') == "0"
    option = chart_option(page, "events-chart")
    assert len(option["series"][0]["data"]) == 180  # one bar per minute of the last 3 hours
    assert sum(n for _, n in option["series"][0]["data"]) > 0  # the import landed within them
    shot(page, site, "overview")
    # the panel refreshes itself (htmx): the chart is drawn again after the swap
    page.evaluate("window.consoleCharts['events-chart'].__marker = 1")
    page.wait_for_function("!window.consoleCharts['events-chart'].__marker", timeout=15_000)


def test_user_explorer_plots_the_evidence_the_graph_holds(site: Site, page_as: Any) -> None:
    page = page_as("admin")
    page.goto(f"{site.url}/console/users/{USER}")
    events = user_events(session_factory(site.settings.sql_url), USER, 5000)
    end = min(now_ms(), events[-1].ts + TIMELINE_TAIL_MS)
    expected_points = daily_points(events[0].ts, end)
    option = chart_option(page, "interest-chart")
    evidence_lines = [s for s in option["series"] if s["type"] == "line"]
    assert len(evidence_lines) == 6
    assert all(len(s["data"]) == len(expected_points) for s in evidence_lines)
    # the last point of each line (recomputed from the event log) is the graph's live evidence
    with site.store() as store:
        graph = {i.name: i for i in store.interests_of(USER)}
    tau = site.settings.evidence_tau_ms
    for line in evidence_lines:
        g = graph[line["name"]]
        assert line["data"][-1][1] == pytest.approx(
            value_at(g.evidence, g.evidence_ts, expected_points[-1], tau), rel=1e-4
        )
    # the model's strengths: a dot per kept version, at that version's data time
    history = user_history(session_factory(site.settings.sql_url), USER)
    assert history, "the refresh job recorded no strength history"
    dots = {s["name"].removesuffix(" (model)"): s["data"] for s in option["series"] if s["type"] == "scatter"}
    assert dots
    ids = {i.name: i.interest_id for i in graph.values()}
    for name, points in dots.items():
        kept = [(h.at_ms, h.strengths[ids[name]]) for h in history if ids[name] in h.strengths]
        assert [(p[0], pytest.approx(p[1])) for p in points] == kept
    # the interest table shows the same evidence
    top = evidence_lines[0]["name"]
    row = page.locator("#interests tr", has=page.locator(f"a:text-is('{top}')"))
    assert float(row.locator("[data-evidence]").get_attribute("data-evidence")) == pytest.approx(
        evidence_lines[0]["data"][-1][1], rel=1e-3
    )
    # recent events from the log, newest first
    assert page.locator("#events tr").count() == 21
    # recommendations with reasons, and their evidence paths drawn
    recs = page.locator("#recs > li")
    assert recs.count() == 10
    assert recs.first.locator(".reasons li").count() >= 1
    page.wait_for_function("window.consoleGraphs && window.consoleGraphs['evidence-graph']")
    nodes = page.evaluate("window.consoleGraphs['evidence-graph'].nodes().map(n => n.data())")
    edges = page.evaluate("window.consoleGraphs['evidence-graph'].edges().map(e => e.data('label'))")
    assert {"id": f"user:{USER}", "label": f"user {USER}", "kind": "user"} in nodes
    assert sum(n["kind"] == "recommended" for n in nodes) == 6
    assert {"INTERACTED", "SIMILAR_TO"} & set(edges) or {"INTERESTED_IN", "TAGGED"} <= set(edges)
    shot(page, site, "user")


def test_item_and_interest_pages(site: Site, page_as: Any) -> None:
    page = page_as("read")
    page.goto(f"{site.url}/console/items/{ITEM}")
    with site.store() as store:
        item = store.item_detail(ITEM)
        similar = store.similar_items(ITEM, store.current_model_version(), 10)
        trend = store.interest_trend(INTEREST, 7 * DAY_MS)
        top_items = store.interest_items(INTEREST, 15)
        interest = store.interest_detail(INTEREST)
    assert page.inner_text("#item-title") == item.title == "Star Wars"
    assert {t.name for t in item.tags} == set(page.locator("#tags a").all_inner_texts())
    assert page.locator("#similar > li").first.get_attribute("data-item") == similar[0].item_id
    shot(page, site, "item")
    page.click(f"#tags a:text-is('{interest.name}')")
    page.wait_for_url(f"**/console/interests/{INTEREST}")
    assert page.inner_text("#interest-name") == interest.name
    option = chart_option(page, "trend-chart")
    assert [p[1] for p in option["series"][0]["data"]] == [t.interactions for t in trend]
    assert page.locator("#top-items tr").nth(1).locator("a").inner_text() == (
        top_items[0].title or top_items[0].item_id
    )
    shot(page, site, "interest")


def test_runs_page_charts_ndcg_per_run_and_the_training_curve(site: Site, page_as: Any) -> None:
    page = page_as("analyst")
    page.goto(f"{site.url}/console/runs")
    history = list_runs(site.settings)
    measured = [r for r in history if r["metrics"].get("ndcg@20") is not None]
    option = chart_option(page, "runs-chart")
    assert [s["name"] for s in option["series"]] == ["model", "popularity"]
    assert option["series"][0]["data"][-1] == pytest.approx(measured[0]["metrics"]["ndcg@20"])
    assert len(option["series"][0]["data"]) == len(measured)
    assert page.locator("#start-refresh").count() == 0  # analysts watch; admins start
    shot(page, site, "runs")
    page.click(f"a:text-is('#{history[-1]['run_id']}')")
    assert page.inner_text("#run-state") == history[-1]["status"]
    curve = history[-1]["metrics"]["history"]  # a full run records its training curve, one row per epoch
    assert curve
    option = chart_option(page, "curve-chart")
    assert len(option["series"][0]["data"]) == len(curve)
    shot(page, site, "run")


def test_cypher_console_table_graph_csv_and_refused_write(site: Site, page_as: Any) -> None:
    page = page_as("analyst")
    page.goto(f"{site.url}/console/cypher")
    query = "MATCH (u:User {id: $id})-[r:INTERACTED]->(i:Item) RETURN u, r, i ORDER BY i.id LIMIT 5"
    page.fill("#query", query)
    page.fill("#params", '{"id": "1"}')
    page.click("#run-query")
    page.wait_for_selector("#result-table table")
    rows = page.locator("#result-table tr")
    assert rows.count() == 6 and rows.first.inner_text().split() == ["u", "r", "i"]
    page.click("#view-graph")
    page.wait_for_function("window.consoleGraphs && window.consoleGraphs['result-graph']")
    assert page.evaluate("window.consoleGraphs['result-graph'].nodes().length") == 6  # the user and 5 items
    assert page.evaluate("window.consoleGraphs['result-graph'].edges().length") == 5
    labels = page.evaluate("window.consoleGraphs['result-graph'].nodes().map(n => n.data('label'))")
    with site.store() as store:
        expected = store.read_only_query(query, {"id": "1"}, 5000, 10)
        titles = store.item_titles(["1", "2"])
    assert {row[2]["properties"]["title"] for row in expected.rows} | {"1"} == set(labels)
    shot(page, site, "cypher-graph")
    # CSV export of the same query
    page.fill("#query", "MATCH (i:Item) WHERE i.id IN ['1', '2'] RETURN i.id AS id, i.title AS title ORDER BY id")
    page.fill("#params", "{}")
    with page.expect_download() as download:
        page.click("#export-csv")
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert list(csv.reader(io.StringIO(text))) == [["id", "title"], ["1", titles["1"]], ["2", titles["2"]]]
    # a catalogue example, one click, with its parameters
    page.click("[data-example='user_top_interests']")
    assert "INTERESTED_IN" in page.input_value("#query") and '"user_id"' in page.input_value("#params")
    # a write is refused, with the store's message
    page.fill("#query", "CREATE (:Hacked {at: 1}) RETURN 1")
    page.fill("#params", "{}")
    page.click("#run-query")
    page.wait_for_selector("#query-error:not([hidden])")
    assert page.inner_text("#query-error").startswith("Writes are not allowed")
    page.click("#view-table")
    shot(page, site, "cypher-refused")
    with site.store() as store:
        assert not store.read_named("count_labels") or "Hacked" not in {
            r["label"] for r in store.read_named("count_labels")
        }


def test_roles_limit_what_pages_show(site: Site, page_as: Any) -> None:
    page = page_as("read")
    assert page.locator("header nav a:text-is('Cypher')").count() == 0
    page.goto(f"{site.url}/console/cypher")
    assert "needs the role analyst" in page.inner_text("#error-message")
    page.goto(f"{site.url}/console/runs")
    assert "needs the role analyst" in page.inner_text("#error-message")
    # a state-changing request without the session's CSRF token is refused
    resp = page.request.post(f"{site.url}/console/api/cypher", data={"query": "RETURN 1"})
    assert resp.status == 403 and "CSRF" in resp.json()["detail"]
    analyst = page_as("analyst")
    analyst.goto(f"{site.url}/console/users/{USER}")
    assert analyst.locator("#recs-hidden").is_visible()  # recommendations are the read role's
    token = analyst.get_attribute('meta[name="csrf-token"]', "content")
    resp = analyst.request.post(f"{site.url}/console/runs", form={"mode": "full", "csrf_token": token})
    assert resp.status == 403  # starting a refresh is the admin's


@pytest.mark.slow
def test_admin_starts_a_refresh_and_watches_it_publish(site: Site, page_as: Any) -> None:
    page = page_as("admin")
    page.goto(f"{site.url}/console/runs")
    before = {r["run_id"] for r in list_runs(site.settings)}
    page.check("input[name=force]")
    page.click("#start-full")
    page.wait_for_url(re.compile(r".*/console/runs/\d+$"))
    run_id = int(page.url.rsplit("/", 1)[1])
    assert run_id not in before
    started = time.monotonic()
    page.wait_for_function(
        "document.querySelector('#run-state').textContent.trim() === 'published'", timeout=150_000, polling=500
    )
    assert time.monotonic() - started < 150
    page.reload()
    assert page.inner_text("#run-state") == "published"
    shot(page, site, "run-published")
