/* sub3coach page: talks to the JSON API, draws with plotly.js from the installed plotly package.
   plotly (~4 MB) is fetched after the page has loaded, never blocking it. */
"use strict";

const ZONES = [[0.5, "Z1 50%"], [0.6, "Z2 60%"], [0.7, "Z3 70%"], [0.8, "Z4 80%"], [0.9, "Z5 90%"]];
const ZONE_NAMES = { Z0: "below 50%", Z1: "50-60%", Z2: "60-70%", Z3: "70-80%", Z4: "80-90%", Z5: "90%+" };
const $ = (id) => document.getElementById(id);
let plotlyPromise = null;

function loadPlotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!plotlyPromise) {
    plotlyPromise = new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = "/static/plotly.min.js";
      s.onload = () => resolve(window.Plotly);
      s.onerror = () => reject(new Error("cannot load the chart library (/static/plotly.min.js)"));
      document.head.appendChild(s);
    });
  }
  return plotlyPromise;
}

/* ---------- formatting ---------- */
function fmtDuration(s) {
  if (s == null || !isFinite(s)) return "-";
  s = Math.round(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return (h ? h + ":" + String(m).padStart(2, "0") : String(m)) + ":" + String(sec).padStart(2, "0");
}
function fmtPace(sPerKm) {
  if (sPerKm == null || !isFinite(sPerKm) || sPerKm <= 0) return "-";
  const r = Math.round(sPerKm);
  return Math.floor(r / 60) + ":" + String(r % 60).padStart(2, "0");
}
const num = (x, nd = 0) => (x == null || !isFinite(x) ? "-" : Number(x).toFixed(nd));

/* ---------- requests ---------- */
async function api(url, opts) {
  let r;
  try { r = await fetch(url, opts); } catch (e) { throw new Error("cannot reach the server (" + e.message + ")"); }
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) {
    const detail = body && body.detail;
    const msg = typeof detail === "string" ? detail
      : Array.isArray(detail) ? detail.map((d) => (d.loc || []).slice(-1)[0] + ": " + d.msg).join("; ")
      : "HTTP " + r.status;
    const err = new Error(msg); err.status = r.status; throw err;
  }
  return body;
}

function showError(id, msg) { const el = $(id); el.textContent = msg || ""; el.hidden = !msg; }
function setStatus(id, msg) { $(id).textContent = msg || ""; }

/* ---------- charts ---------- */
function minutes(ts) { const t0 = ts.length ? ts[0] : 0; return ts.map((t) => (t - t0) / 60); }

function hrTraces(x, d, measured) {
  const traces = [
    { x, y: d.hr_lo, name: "80% band (low)", mode: "lines", line: { width: 0 }, showlegend: false, hoverinfo: "skip" },
    { x, y: d.hr_hi, name: "80% band", mode: "lines", line: { width: 0 }, fill: "tonexty", fillcolor: "rgba(11,92,173,0.18)", hoverinfo: "skip" },
    { x, y: d.hr_pred, name: "predicted", mode: "lines", line: { color: "#0b5cad", width: 2, dash: "solid" },
      hovertemplate: "%{x:.1f} min: predicted %{y:.0f} BPM<extra></extra>" },
  ];
  if (measured) {
    traces.push({ x, y: measured, name: "measured", mode: "lines", line: { color: "#b4331a", width: 1.5, dash: "dot" },
      hovertemplate: "%{x:.1f} min: measured %{y:.0f} BPM<extra></extra>" });
  }
  return traces;
}

function zoneShapes(maxHr, assumed) {
  const shapes = [], annotations = [];
  for (const [f, label] of ZONES) {
    const y = f * maxHr;
    shapes.push({ type: "line", xref: "paper", x0: 0, x1: 1, y0: y, y1: y, line: { color: "#777", width: 1, dash: "dash" } });
    annotations.push({ xref: "paper", x: 1, xanchor: "right", y, yanchor: "bottom", text: label, showarrow: false,
      font: { size: 10, color: "#333" }, bgcolor: "rgba(255,255,255,0.75)" });
  }
  const note = "zones: % of max HR " + Math.round(maxHr) + (assumed ? " (assumed)" : "");
  return { shapes, annotations, note };
}

const LAYOUT = { margin: { l: 48, r: 8, t: 28, b: 40 }, hovermode: "x",
  font: { family: "system-ui, sans-serif", size: 12 } };
const CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"],
  displayModeBar: window.matchMedia("(min-width: 700px)").matches ? "hover" : false };  /* phones: no toolbar over the chart */

async function drawHr(el, d, measured) {
  const Plotly = await loadPlotly();
  const x = minutes(d.timestamp);
  const s = d.summary || {};
  const z = zoneShapes(s.max_hr_bpm_for_zones || 190, s.max_hr_assumed);
  if (d.observed_until_s != null) {
    const xo = (d.observed_until_s - d.timestamp[0]) / 60;
    z.shapes.push({ type: "line", x0: xo, x1: xo, yref: "paper", y0: 0, y1: 1, line: { color: "#222", width: 1.5, dash: "dashdot" } });
    z.annotations.push({ x: xo, yref: "paper", y: 0.02, text: "measured HR known until here", showarrow: false, xanchor: "left", font: { size: 10 } });
  }
  const layout = Object.assign({}, LAYOUT, { shapes: z.shapes, annotations: z.annotations,
    legend: { orientation: "h", x: 0, xanchor: "left", y: 1, yanchor: "bottom" },
    margin: { l: 48, r: 8, t: 28, b: 58 },
    xaxis: { title: { text: "time (min)<br><span style=\"font-size:11px\">" + z.note + "</span>" } }, yaxis: { title: { text: "heart rate (BPM)" } } });
  await Plotly.react(el, hrTraces(x, d, measured), layout, CONFIG);
}

async function drawLine(el, x, y, opts) {
  const Plotly = await loadPlotly();
  const trace = { x, y, name: opts.name, mode: "lines", line: { color: opts.color || "#333", width: 1.5, dash: opts.dash || "solid" },
    hovertemplate: opts.hover || "%{x:.1f} min: %{y:.1f}<extra></extra>" };
  if (opts.text) trace.text = opts.text;
  const layout = Object.assign({}, LAYOUT, { showlegend: false, margin: { l: 48, r: 8, t: 8, b: 36 },
    xaxis: { title: { text: "time (min)" } }, yaxis: Object.assign({ title: { text: opts.ytitle } }, opts.yaxis || {}) });
  await Plotly.react(el, [trace], layout, CONFIG);
}

function paceSeries(speed) {
  const y = speed.map((v) => (v != null && v > 0.8 ? 1000 / v / 60 : null));  /* stopped: no pace */
  const text = y.map((p) => (p == null ? "" : fmtPace(p * 60)));
  return { y, text };
}

async function drawRunCharts(prefix, d) {
  const x = minutes(d.timestamp);
  if (d.speed_mps) {
    const p = paceSeries(d.speed_mps);
    await drawLine($(prefix + "-pace"), x, p.y, { name: "pace", ytitle: "pace (min/km)", color: "#2d6a2d", text: p.text,
      hover: "%{x:.1f} min: %{text}/km<extra></extra>", yaxis: { autorange: "reversed" } });
  }
  if (d.altitude_m && d.altitude_m.some((v) => v != null)) {
    await drawLine($(prefix + "-elev"), x, d.altitude_m, { name: "elevation", ytitle: "elevation (m)", color: "#6b4f2a",
      hover: "%{x:.1f} min: %{y:.0f} m<extra></extra>" });
  } else {
    $(prefix + "-elev").textContent = "No elevation in this file.";
  }
}

function zoneTable(table, s) {
  const total = Object.values(s.time_in_zones_s || {}).reduce((a, b) => a + b, 0) || 1;
  let html = "<caption>Time in heart-rate zones (predicted; % of max HR " + Math.round(s.max_hr_bpm_for_zones) +
    (s.max_hr_assumed ? ", assumed" : "") + ")</caption><thead><tr><th scope=\"col\">Zone</th><th scope=\"col\">% max HR</th>" +
    "<th scope=\"col\">Time</th><th scope=\"col\">Share</th></tr></thead><tbody>";
  for (const [z, secs] of Object.entries(s.time_in_zones_s || {})) {
    html += "<tr><td>" + z + "</td><td>" + ZONE_NAMES[z] + "</td><td>" + fmtDuration(secs) + "</td><td>" + Math.round(100 * secs / total) + "%</td></tr>";
  }
  table.innerHTML = html + "</tbody>";
}

function summaryText(s) {
  let t = "Predicted mean " + num(s.mean_hr_bpm) + " BPM, max " + num(s.max_hr_pred_bpm) + " BPM over " + fmtDuration(s.duration_s);
  if (s.distance_m) t += " (" + num(s.distance_m / 1000, 2) + " km)";
  if (s.recorded_mean_hr_bpm != null) t += "; measured mean " + num(s.recorded_mean_hr_bpm) + " BPM";
  if (s.mae_after_observed_bpm != null) t += "; error after the known minutes " + num(s.mae_after_observed_bpm, 1) + " BPM";
  return t + ". " + (s.personal || "") + ".";
}

/* ---------- your run ---------- */
async function predictRun(ev) {
  if (ev) ev.preventDefault();
  const input = $("file");
  if (!input.files.length) { showError("run-error", "choose a file first"); return; }
  const fd = new FormData();
  fd.append("file", input.files[0]);
  for (const [id, key] of [["athlete", "athlete"], ["max-hr", "max_hr"], ["observed", "observed_minutes"]]) {
    if ($(id).value) fd.append(key, $(id).value);
  }
  showError("run-error", "");
  setStatus("run-status", "Predicting " + input.files[0].name + "...");
  const t0 = performance.now();
  try {
    const d = await api("/api/predict", { method: "POST", body: fd });
    document.body.dataset.fetchMs = String(Math.round(performance.now() - t0));
    $("run-result").hidden = false;
    $("run-summary").textContent = summaryText(d.summary);
    await drawHr($("chart-hr"), d, d.hr_measured);
    await drawRunCharts("chart", d);
    zoneTable($("run-zones"), d.summary);
    const ms = Math.round(performance.now() - t0);
    setStatus("run-status", input.files[0].name + ": " + d.timestamp.length + " samples, drawn in " + ms + " ms.");
    document.body.dataset.predictMs = String(ms);
  } catch (e) {
    setStatus("run-status", "");
    showError("run-error", e.message);
  }
}

function setupDrop() {
  const drop = $("drop"), input = $("file");
  ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
  drop.addEventListener("drop", (e) => {
    if (e.dataTransfer && e.dataTransfer.files.length) { input.files = e.dataTransfer.files; predictRun(); }
  });
  input.addEventListener("change", () => { if (input.files.length) predictRun(); });
  /* a file dropped beside the zone must not navigate away from the page */
  ["dragover", "drop"].forEach((t) => window.addEventListener(t, (e) => { if (!drop.contains(e.target)) e.preventDefault(); }));
  $("predict-form").addEventListener("submit", predictRun);
}

/* ---------- plan a course ---------- */
async function predictCourse(ev) {
  ev.preventDefault();
  const form = $("course-form");
  const fd = new FormData(form);
  if (($("course-plan").value || "").trim()) fd.delete("pace"); else fd.delete("pace_plan");
  if (!fd.get("max_hr")) fd.delete("max_hr");
  if ($("athlete").value) fd.append("athlete", $("athlete").value);
  showError("course-error", "");
  setStatus("course-status", "Predicting...");
  try {
    const d = await api("/api/predict/course", { method: "POST", body: fd });
    $("course-result").hidden = false;
    $("course-summary").textContent = (d.summary.name ? d.summary.name + ": " : "") + summaryText(d.summary);
    await drawHr($("chart-course"), d, null);
    await drawLine($("chart-course-elev"), minutes(d.timestamp), d.altitude_m || [], { name: "elevation", ytitle: "elevation (m)",
      color: "#6b4f2a", hover: "%{x:.1f} min: %{y:.0f} m<extra></extra>" });
    setStatus("course-status", "");
  } catch (e) {
    setStatus("course-status", "");
    showError("course-error", e.message);
  }
}

/* ---------- library ---------- */
async function loadRuns() {
  let rows = [];
  try { rows = await api("/api/runs"); } catch (e) { showError("import-error", e.message); return; }
  const tbody = document.querySelector("#runs tbody");
  tbody.innerHTML = "";
  $("runs-empty").hidden = rows.length > 0;
  for (const r of rows.slice().reverse()) {
    const tr = document.createElement("tr");
    tr.dataset.id = r.id;
    const b = document.createElement("button");
    b.type = "button"; b.className = "linkish";
    b.textContent = r.start_time.slice(0, 16).replace("T", " ") + (r.summary_only ? " (summary)" : "");
    b.addEventListener("click", () => showRun(r.id, tr));
    const td = document.createElement("td"); td.appendChild(b); tr.appendChild(td);
    for (const v of [num(r.distance_m / 1000, 2), fmtDuration(r.moving_time_s || r.duration_s), fmtPace(r.avg_pace_s_per_km), num(r.avg_hr_bpm)]) {
      const c = document.createElement("td"); c.textContent = v; tr.appendChild(c);
    }
    tr.addEventListener("click", (e) => { if (e.target === tr || e.target.tagName === "TD") showRun(r.id, tr); });
    tbody.appendChild(tr);
  }
}

async function showRun(id, tr) {
  document.querySelectorAll("#runs tr[aria-current]").forEach((x) => x.removeAttribute("aria-current"));
  if (tr) tr.setAttribute("aria-current", "true");
  $("lib-result").hidden = false;
  $("lib-summary").textContent = "Loading...";
  try {
    const d = await api("/api/runs/" + encodeURIComponent(id) + "?predict=true");
    if (!d.samples) { $("lib-summary").textContent = "Summary-only run (from a training log): no samples to draw."; return; }
    const p = d.prediction;
    $("lib-summary").textContent = d.summary.start_time.slice(0, 16).replace("T", " ") + (d.summary.name ? " " + d.summary.name : "") +
      ": " + summaryText(p.summary);
    await drawHr($("chart-lib"), p, p.hr_measured);
  } catch (e) {
    $("lib-summary").textContent = "Error: " + e.message;
  }
}

async function importFiles(ev) {
  ev.preventDefault();
  const fd = new FormData($("import-form"));
  if (!fd.get("athlete")) fd.delete("athlete");
  showError("import-error", "");
  setStatus("import-status", "Importing...");
  try {
    const r = await api("/api/import", { method: "POST", body: fd });
    let msg = r.imported + " imported, " + r.duplicates + " already there";
    if (r.skipped.length) msg += ", " + r.skipped.length + " skipped (" + r.skipped.map((s) => s.path + ": " + s.reason).join("; ") + ")";
    setStatus("import-status", msg + ".");
    if (r.failed.length) showError("import-error", r.failed.map((f) => f.path + ": " + f.error).join("; "));
    await loadRuns(); await loadAthletes(); loadWeek(); loadLoad();
  } catch (e) {
    setStatus("import-status", "");
    showError("import-error", e.message);
  }
}

async function loadAthletes() {
  let list = [];
  try { list = await api("/api/athletes"); } catch (e) { return; }
  const sel = $("athlete"), keep = sel.value;
  sel.innerHTML = "<option value=\"\">(the only one)</option>";
  for (const a of list) { const o = document.createElement("option"); o.value = a.name; o.textContent = a.name + " (" + a.runs + " runs)"; sel.appendChild(o); }
  /* several athletes: one must be named, so start with the first rather than an error */
  sel.value = keep || (list.length > 1 ? list[0].name : "");
}

/* ---------- next week and training load ---------- */
const STEP_KEYS = ["steps", "structure", "session", "segments", "workout_steps"];

function stepText(s) {
  if (typeof s === "string") return s;
  if (s && s.description) return s.description;
  return Object.entries(s || {}).filter(([, v]) => v != null && typeof v !== "object").map(([k, v]) => k + " " + v).join(", ");
}

function dayItem(w) {
  const li = document.createElement("li");
  const day = new Date(w.date + "T00:00:00");
  const label = day.toLocaleDateString(undefined, { weekday: "short", month: "short", day: "numeric" });
  if (w.type === "rest") {
    li.innerHTML = "<span class=\"rest\"></span>";
    li.firstChild.textContent = label + ": rest" + (w.reason ? " - " + w.reason : "");
    return li;
  }
  const head = document.createElement("div");
  head.innerHTML = "<span class=\"type\"></span> <span class=\"what\"></span>";
  head.querySelector(".type").textContent = label + ": " + w.type;
  head.querySelector(".what").textContent = num(w.distance_m / 1000, 1) + " km at " + fmtPace(w.pace_s_per_km) + "/km (" +
    fmtDuration(w.duration_s) + (w.expected_hr_bpm ? ", about " + num(w.expected_hr_bpm) + " BPM" : "") + ")" + (w.reason ? " - " + w.reason : "");
  li.appendChild(head);
  const key = STEP_KEYS.find((k) => Array.isArray(w[k]) && w[k].length);
  if (!key && typeof w.structure === "string" && w.structure && w.session) {
    const st = document.createElement("p"); st.className = "session"; st.textContent = "Session: " + w.structure;
    li.appendChild(st);
  }
  if (key) {
    const ol = document.createElement("ol");
    for (const s of w[key]) { const i = document.createElement("li"); i.textContent = stepText(s); ol.appendChild(i); }
    li.appendChild(ol);
  }
  return li;
}

async function loadWeek() {
  const card = $("week-card");
  const q = $("athlete").value ? "?athlete=" + encodeURIComponent($("athlete").value) : "";
  try {
    const d = await api("/api/plan/week" + q);
    card.innerHTML = "";
    const p = document.createElement("p");
    p.textContent = "Seven days from " + d.days[0].date + ($("athlete").value ? " for " + $("athlete").value : "") + ": " +
      num(d.total_distance_m / 1000, 1) + " km" + (d.volume_reason ? " (" + d.volume_reason + ")" : "") + ".";
    const ul = document.createElement("ul"); ul.className = "days";
    d.days.forEach((w) => ul.appendChild(dayItem(w)));
    card.append(p, ul);
    (d.warnings || d.notes || []).forEach((w) => { const x = document.createElement("p"); x.className = "status"; x.textContent = "Note: " + w; card.appendChild(x); });
  } catch (e) {
    card.innerHTML = "<p class=\"status\"></p>";
    card.firstChild.textContent = "No plan yet: " + e.message;
  }
}

async function loadLoad() {
  const q = $("athlete").value ? "?athlete=" + encodeURIComponent($("athlete").value) : "";
  let d;
  try { d = await api("/api/load" + q); } catch (e) { $("load").hidden = true; return; }
  $("load").hidden = false;
  const rows = Array.isArray(d) ? d : (d.days || d.daily || []);
  const last = rows.length ? rows[rows.length - 1] : d;
  $("load-card").textContent = ["ctl", "atl", "tsb"].filter((k) => last && last[k] != null)
    .map((k) => ({ ctl: "fitness (CTL)", atl: "fatigue (ATL)", tsb: "form (TSB)" })[k] + " " + num(last[k], 1)).join(", ") || "Training load available.";
  if (rows.length && (rows[0].day || rows[0].date)) {
    const Plotly = await loadPlotly();
    const x = rows.map((r) => r.day || r.date);
    const tr = [["ctl", "fitness (CTL)", "solid"], ["atl", "fatigue (ATL)", "dot"], ["tsb", "form (TSB)", "dash"]]
      .map(([k, name, dash]) => ({ x, y: rows.map((r) => r[k]), name, mode: "lines", line: { dash, width: 2 } }));
    await Plotly.react($("chart-load"), tr, Object.assign({}, LAYOUT, { yaxis: { title: { text: "load" } } }), CONFIG);
  }
}

/* ---------- start ---------- */
document.addEventListener("DOMContentLoaded", () => {
  setupDrop();
  $("course-form").addEventListener("submit", predictCourse);
  $("import-form").addEventListener("submit", importFiles);
  $("athlete").addEventListener("change", () => { loadWeek(); loadLoad(); });
  loadRuns();
  loadAthletes().then(() => { loadWeek(); loadLoad(); });
});
window.addEventListener("load", () => { setTimeout(() => loadPlotly().catch(() => {}), 0); });
