// The console's charts (ECharts), graph drawings (Cytoscape.js) and Cypher editor.
// Pages embed their data as <script type="application/json" data-for="ID">; this file
// draws every [data-chart] / [data-graph] element on load and after an htmx swap.
"use strict";

window.consoleCharts = {};
window.consoleGraphs = {};

function dataFor(el) {
  const script = document.querySelector(`script[data-for="${el.id}"]`);
  return script ? JSON.parse(script.textContent) : null;
}

const BASE = { animation: false, tooltip: { trigger: "axis" }, grid: { left: 56, right: 56, top: 40, bottom: 40 } };

const CHARTS = {
  "events-per-minute": (d) => ({
    ...BASE,
    xAxis: { type: "time" },
    yAxis: { type: "value", name: "events / min", minInterval: 1 },
    series: [{ name: "events received", type: "bar", data: d.points, barMaxWidth: 6 }],
  }),
  "interest-timeline": (d) => {
    const series = d.series.map((s) => ({
      name: s.name, type: "line", showSymbol: false, data: d.points_ms.map((t, k) => [t, s.evidence[k]]),
    }));
    // the model's strength per published version: one dotted line per interest
    d.series.forEach((s) => {
      const points = d.strength.filter((v) => v.values[s.id] !== undefined).map((v) => [v.at_ms, v.values[s.id]]);
      if (points.length) {
        series.push({ name: `${s.name} (model)`, type: "scatter", yAxisIndex: 1, symbolSize: 10, data: points });
      }
    });
    return {
      ...BASE, legend: { type: "scroll", top: 0 },
      xAxis: { type: "time" },
      yAxis: [{ type: "value", name: "evidence" }, { type: "value", name: "strength", min: 0, max: 1 }],
      series,
    };
  },
  "interest-trend": (d) => ({
    ...BASE,
    xAxis: { type: "time" },
    yAxis: { type: "value", name: "new interactions", minInterval: 1 },
    series: [{ name: "new interactions", type: "line", data: d.points_ms.map((t, k) => [t, d.interactions[k]]) }],
  }),
  "runs-ndcg": (d) => ({
    ...BASE, legend: { top: 0 },
    xAxis: { type: "category", data: d.runs },
    yAxis: { type: "value", name: "NDCG@20" },
    series: [
      { name: "model", type: "line", data: d.model },
      { name: "popularity", type: "line", data: d.popularity },
    ],
  }),
  "training-curve": (d) => ({
    ...BASE, legend: { top: 0 },
    xAxis: { type: "category", name: "epoch", data: d.epochs },
    yAxis: [{ type: "value", name: "loss", scale: true }, { type: "value", name: "valid NDCG@20", scale: true }],
    series: [
      { name: "loss", type: "line", data: d.loss },
      { name: "valid NDCG@20", type: "line", yAxisIndex: 1, connectNulls: true, data: d.valid },
    ],
  }),
};

const GRAPH_STYLE = [
  { selector: "node", style: { label: "data(label)", "font-size": 10, "text-wrap": "ellipsis", "text-max-width": 120,
                               "background-color": "#8a94a6", width: 18, height: 18 } },
  { selector: 'node[kind = "user"]', style: { "background-color": "#2563eb", width: 26, height: 26 } },
  { selector: 'node[kind = "User"]', style: { "background-color": "#2563eb" } },
  { selector: 'node[kind = "recommended"]', style: { "background-color": "#16a34a" } },
  { selector: 'node[kind = "Item"], node[kind = "known"]', style: { "background-color": "#f59e0b" } },
  { selector: 'node[kind = "interest"], node[kind = "Interest"]', style: { "background-color": "#db2777", shape: "round-rectangle" } },
  { selector: "edge", style: { width: 1.5, "curve-style": "bezier", "target-arrow-shape": "triangle", label: "data(label)",
                               "font-size": 7, color: "#8a94a6", "text-rotation": "autorotate",
                               "line-color": "#c3c8d2", "target-arrow-color": "#c3c8d2" } },
  { selector: 'edge[label = "SIMILAR_TO"], edge[label = "LIKED_ALSO"]', style: { "line-color": "#86efac", "target-arrow-color": "#86efac" } },
  { selector: 'edge[label = "TAGGED"], edge[label = "INTERESTED_IN"]', style: { "line-color": "#f9a8d4", "target-arrow-color": "#f9a8d4" } },
];

function drawGraph(el, elements) {
  if (window.consoleGraphs[el.id]) window.consoleGraphs[el.id].destroy();
  // the evidence drawing: the user in the middle, what they know around, recommendations outside
  const rings = { user: 3, known: 2, interest: 2, recommended: 1 };
  const layout = elements.some((e) => e.data.kind === "user")
    ? { name: "concentric", animate: false, minNodeSpacing: 24, concentric: (n) => rings[n.data("kind")] || 1, levelWidth: () => 1 }
    : { name: "cose", animate: false, randomize: false };
  const cy = cytoscape({ container: el, elements, style: GRAPH_STYLE, layout, maxZoom: 1.2 });
  window.consoleGraphs[el.id] = cy;
  return cy;
}

function drawAll(root) {
  root.querySelectorAll("[data-chart]").forEach((el) => {
    const d = dataFor(el);
    if (!d) return;
    const old = echarts.getInstanceByDom(el);
    if (old) old.dispose();
    const chart = echarts.init(el);
    chart.setOption(CHARTS[el.dataset.chart](d));
    window.consoleCharts[el.id] = chart;
  });
  root.querySelectorAll("[data-graph]").forEach((el) => {
    const d = dataFor(el);
    if (d) drawGraph(el, d);
  });
}

// --- the Cypher console -------------------------------------------------------------
function csrf() {
  return document.querySelector('meta[name="csrf-token"]').content;
}

function cell(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "object") {
    if (value.kind === "node") return `(${value.labels.join(":")} ${JSON.stringify(value.properties.id ?? value.id)})`;
    if (value.kind === "relationship") return `[:${value.type}]`;
    return JSON.stringify(value);
  }
  return String(value);
}

// nodes and relationships anywhere in the rows (also inside paths and lists)
function graphElements(rows) {
  const nodes = new Map();
  const edges = new Map();
  const visit = (v) => {
    if (v === null || typeof v !== "object") return;
    if (Array.isArray(v)) { v.forEach(visit); return; }
    if (v.kind === "node") {
      const p = v.properties || {};
      nodes.set(v.id, { data: { id: `n${v.id}`, kind: v.labels[0] || "", label: String(p.title ?? p.name ?? p.id ?? v.id) } });
    } else if (v.kind === "relationship") {
      edges.set(v.id, { data: { id: `r${v.id}`, source: `n${v.start}`, target: `n${v.end}`, label: v.type } });
    } else if (v.kind === "path") {
      v.nodes.forEach(visit); v.relationships.forEach(visit);
    } else {
      Object.values(v).forEach(visit);
    }
  };
  rows.forEach((row) => row.forEach(visit));
  const present = new Set([...nodes.values()].map((n) => n.data.id));
  const links = [...edges.values()].filter((e) => present.has(e.data.source) && present.has(e.data.target));
  return [...nodes.values(), ...links];
}

function initCypher() {
  const form = document.getElementById("cypher-form");
  if (!form) return;
  const q = document.getElementById("query");
  const params = document.getElementById("params");
  const err = document.getElementById("query-error");
  const status = document.getElementById("query-status");
  const table = document.getElementById("result-table");
  const graph = document.getElementById("result-graph");
  let elements = [];
  let view = "table";

  const show = (which) => {
    view = which;
    table.hidden = which !== "table";
    graph.hidden = which !== "graph";
    document.querySelectorAll("[data-view]").forEach((b) => b.classList.toggle("active", b.dataset.view === which));
    if (which === "graph") drawGraph(graph, elements);
  };
  document.querySelectorAll("[data-view]").forEach((b) => b.addEventListener("click", () => show(b.dataset.view)));

  document.querySelectorAll("[data-example]").forEach((b) => b.addEventListener("click", () => {
    const body = JSON.parse(document.querySelector(`script[data-example-body="${b.dataset.example}"]`).textContent);
    q.value = body.query;
    params.value = JSON.stringify(body.params);
  }));

  const fail = (message) => { err.textContent = message; err.hidden = false; status.textContent = ""; };

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.hidden = true;
    let p;
    try { p = JSON.parse(params.value || "{}"); } catch (e) { fail(`Parameters are not JSON: ${e.message}`); return; }
    status.textContent = "running…";
    const resp = await fetch("/console/api/cypher", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify({ query: q.value, params: p }),
    });
    const body = await resp.json();
    if (!resp.ok) { fail(`${body.title}: ${body.detail || ""}`); table.replaceChildren(); elements = []; return; }
    const t = document.createElement("table");
    t.className = "grid-table";
    const head = t.insertRow();
    body.columns.forEach((c) => { const th = document.createElement("th"); th.textContent = c; head.appendChild(th); });
    body.rows.forEach((row) => { const tr = t.insertRow(); row.forEach((v) => { tr.insertCell().textContent = cell(v); }); });
    table.replaceChildren(t);
    elements = graphElements(body.rows);
    status.textContent = `${body.rows.length} rows${body.truncated ? " (truncated)" : ""} · ${body.elapsed_ms} ms` +
      (elements.length ? ` · ${elements.filter((e) => !e.data.source).length} nodes in the graph view` : "");
    document.getElementById("view-graph").disabled = elements.length === 0;
    show(elements.length && view === "graph" ? "graph" : "table");
  });

  document.getElementById("export-csv").addEventListener("click", async () => {
    err.hidden = true;
    const data = new FormData();
    data.set("query", q.value);
    data.set("params", params.value || "{}");
    data.set("csrf_token", csrf());
    const resp = await fetch("/console/cypher.csv", { method: "POST", credentials: "same-origin", body: data });
    if (!resp.ok) { const body = await resp.json(); fail(`${body.title}: ${body.detail || ""}`); return; }
    const url = URL.createObjectURL(await resp.blob());
    const a = document.createElement("a");
    a.href = url; a.download = "query.csv";
    document.body.appendChild(a); a.click(); a.remove();
    URL.revokeObjectURL(url);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  drawAll(document);
  initCypher();
  document.body.addEventListener("htmx:afterSettle", (ev) => drawAll(ev.target));
});
