"""The console's pages: sign-in, overview, user / item / interest explorers, model runs
and the Cypher console. Each reads through the typed store roles, the event log and
the run history, as the /v1 endpoints do, and hands its charts their data as JSON."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from graph_schema.clock import now_ms
from records import runs
from records.strength_history import user_history
from service.api.deps import services
from service.console import bp
from service.console.catalogue import examples
from service.console.evidence_graph import evidence_elements
from service.console.overview import overview
from service.console.session import allow, can, current_principal, resolve_key, sign_in, sign_out
from service.console.timeline import DAY_MS, evidence_timeline
from service.ingest.log_reads import user_events
from service.recs.profile import interest_levels

TIMELINE_TAIL_MS = 30 * DAY_MS  # the chart runs on this long after the last event (the decay shows)
TIMELINE_INTERESTS = 6
USER_EVENTS_READ = 5000  # the newest events the timeline folds
RECENT_EVENTS = 20
RECS_SHOWN = 10
TREND_BUCKET_MS = 7 * DAY_MS
SIMILAR_READ = 50  # published neighbours read per recommended item, to find the user's among them
TOP_INTERESTS = 3  # the user's interests drawn in the evidence graph
GRAPH_RECS = 6  # the recommendations whose evidence is drawn


def _safe_next(target: str | None) -> str:
    """Only a path inside the console (never another site) after sign-in."""
    if target and target.startswith("/console/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("console.overview_page")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "GET":
        if current_principal() is not None:
            return redirect(_safe_next(request.args.get("next")))
        return render_template("console/login.html", error=None, next=request.args.get("next", ""))
    key = (request.form.get("api_key") or "").strip()
    principal = resolve_key(key) if key else None
    error = None
    if principal is None:
        error = "That API key is unknown or revoked."
    elif principal.role == "ingest":
        error = "An ingest key cannot use the console: sign in with a read, analyst or admin key."
    if error:
        return render_template("console/login.html", error=error, next=request.form.get("next", "")), 401
    sign_in(key, principal)
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/logout")
def logout() -> Response:
    sign_out()
    return redirect(url_for("console.login"))


@bp.get("/")
def overview_page() -> str:
    return render_template("console/overview.html", o=overview(services()))


@bp.get("/overview/panel")
def overview_panel() -> str:
    """The overview's live part, re-fetched by the page (htmx) every few seconds."""
    return render_template("console/_overview_panel.html", o=overview(services()))


@bp.get("/find")
def find() -> Response:
    """The search box: a user, item or interest id straight to its page."""
    kind, value = request.args.get("kind", "users"), request.args.get("id", "").strip()
    if kind not in ("users", "items", "interests") or not value:
        return redirect(url_for("console.overview_page"))
    return redirect(url_for(f"console.{kind[:-1]}_page", **{f"{kind[:-1]}_id": value}))


@bp.get("/users/<user_id>")
def user_page(user_id: str) -> Any:
    svc = services()
    store = svc.store()
    now = now_ms()
    tau = svc.settings.evidence_tau_ms
    interests = store.interests_of(user_id)
    events = user_events(svc.sessions, user_id, USER_EVENTS_READ)
    if not interests and not events and not store.user_exists(user_id):
        return render_template("console/error.html", status=404, message=f"no user {user_id!r}"), 404
    tags = store.item_tag_weights(sorted({e.item_id for e in events})) if events else {}
    end = min(now, events[-1].ts + TIMELINE_TAIL_MS) if events else now
    timeline = evidence_timeline(events, tags, tau, end)
    as_of = timeline.points_ms[-1] if timeline.points_ms else now  # the chart's last point
    names = {i.interest_id: i.name or i.interest_id for i in interests}
    model = store.current_model()
    mv = model.get("model_version") if model else None
    levels = interest_levels(interests, mv, as_of, tau)
    top = timeline.top(TIMELINE_INTERESTS)
    strengths = {i.interest_id: i.strength for i in levels if i.strength is not None}
    chart = {
        "points_ms": timeline.points_ms,
        "series": [{"id": i, "name": names.get(i, i), "evidence": timeline.evidence[i]} for i in top],
        # the model's strengths per published version (records.strength_history), each
        # plotted at the newest interaction that version was fitted on (its data's "now")
        "strength": _strength_versions(svc.sessions, user_id, top, mv, _model_time(model), strengths),
    }
    recent = list(reversed(events[-RECENT_EVENTS:]))
    titles = store.item_titles([e.item_id for e in recent]) if recent else {}
    recs = None
    graph: list[dict[str, Any]] = []
    if can("read"):
        recs = svc.recommender.recommend(store, user_id, k=RECS_SHOWN, explain=True)
        graph = _evidence_graph(store, user_id, recs, events, levels, mv)
    return render_template(
        "console/user.html",
        user_id=user_id,
        levels=levels,
        chart=chart,
        events_total=len(events),
        recent=recent,
        titles=titles,
        recs=recs,
        graph=graph,
        model_version=mv,
        evidence_at=as_of,
    )


def _strength_versions(
    sessions: Any, user_id: str, top: list[str], mv: str | None, at_ms: int | None, current: dict[str, float]
) -> list[dict[str, Any]]:
    """[{model_version, at_ms, values: {interest: strength}}], oldest first: the kept
    history, and the published version from the graph if the history lacks it (recorded
    before the history existed, or STRENGTH_HISTORY_VERSIONS=0)."""
    versions = [
        {
            "model_version": h.model_version,
            "at_ms": h.at_ms,
            "values": {i: h.strengths[i] for i in top if i in h.strengths},
        }
        for h in user_history(sessions, user_id)
    ]
    if mv is not None and at_ms is not None and all(v["model_version"] != mv for v in versions):
        versions.append({"model_version": mv, "at_ms": at_ms, "values": {i: current[i] for i in top if i in current}})
    return [v for v in versions if v["values"]]


def _model_time(model: dict[str, Any] | None) -> int | None:
    if not model:
        return None
    t_ref = (model.get("metrics") or {}).get("t_ref")
    return int(t_ref) if t_ref is not None else model.get("published_at")


def _evidence_graph(
    store: Any, user_id: str, recs: dict[str, Any], events: list[Any], levels: list[Any], mv: str | None
) -> list[dict[str, Any]]:
    """The recommendations' evidence paths: what the answer states, plus the published
    SIMILAR_TO edges to the user's items and the shared tags with the user's top interests."""
    drawn = recs["items"][:GRAPH_RECS]
    rec_ids = [str(r["item_id"]) for r in drawn]
    known = list(dict.fromkeys(e.item_id for e in reversed(events)))  # most recent first
    neighbours = (
        {i: [n.item_id for n in ns] for i, ns in store.similar_lists(mv, rec_ids, SIMILAR_READ).items()} if mv else {}
    )
    mine = set(known)
    titles = store.item_titles(sorted({n for ns in neighbours.values() for n in ns if n in mine}))
    tags = {m.item_id: list(m.interests) for m in store.item_meta(rec_ids)}
    top = {i.interest_id: i.name for i in levels[:TOP_INTERESTS]}
    return evidence_elements(user_id, drawn, known, titles, neighbours, tags, top)


@bp.get("/items/<item_id>")
def item_page(item_id: str) -> Any:
    svc = services()
    store = svc.store()
    item = store.item_detail(item_id)
    if item is None:
        return render_template("console/error.html", status=404, message=f"no item {item_id!r}"), 404
    similar = svc.recommender.similar_items(store, item_id, 10)
    return render_template("console/item.html", item=item, similar=similar)


@bp.get("/interests/<interest_id>")
def interest_page(interest_id: str) -> Any:
    store = services().store()
    interest = store.interest_detail(interest_id)
    if interest is None:
        return render_template("console/error.html", status=404, message=f"no interest {interest_id!r}"), 404
    trend = store.interest_trend(interest_id, TREND_BUCKET_MS)
    chart = {"points_ms": [p.bucket_ms for p in trend], "interactions": [p.interactions for p in trend]}
    return render_template(
        "console/interest.html",
        interest=interest,
        chart=chart,
        users=store.interest_users(interest_id, 15),
        items=store.interest_items(interest_id, 15),
    )


@bp.get("/runs")
@allow("analyst")
def runs_page() -> str:
    history = runs.list_runs(services().settings, limit=50)
    measured = [r for r in reversed(history) if r["metrics"].get("ndcg@20") is not None]
    chart = {
        "runs": [f"#{r['run_id']}" for r in measured],
        "model": [r["metrics"]["ndcg@20"] for r in measured],
        "popularity": [(r["metrics"].get("baseline") or {}).get("ndcg@20") for r in measured],
    }
    return render_template("console/runs.html", runs=history, chart=chart)


@bp.get("/runs/<int:run_id>")
@allow("analyst")
def run_page(run_id: int) -> Any:
    run = runs.get_run(services().settings, run_id)
    if run is None:
        return render_template("console/error.html", status=404, message=f"no refresh run {run_id}"), 404
    history = run["metrics"].get("history") or []
    curve = {
        "epochs": [h.get("epoch") for h in history],
        "loss": [h.get("loss") for h in history],
        "valid": [h.get("valid_ndcg@20") for h in history],
    }
    return render_template("console/run.html", run=run, curve=curve)


@bp.get("/runs/<int:run_id>/status")
@allow("analyst")
def run_status(run_id: int) -> Any:
    """The run's live status, re-fetched by its page (htmx) until it has finished."""
    run = runs.get_run(services().settings, run_id)
    if run is None:
        return "", 404
    return render_template("console/_run_status.html", run=run)


@bp.get("/cypher")
@allow("analyst")
def cypher_page() -> str:
    s = services().settings
    return render_template(
        "console/cypher.html", examples=examples(), timeout_ms=s.cypher_timeout_ms, row_limit=s.cypher_row_limit
    )
