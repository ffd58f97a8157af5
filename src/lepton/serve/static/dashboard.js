// Lepton live dashboard: polls /dashboard/data once a second and draws small canvas line charts.
"use strict";
const COLORS = ["#2b6cb0", "#d97706", "#c53030", "#2f855a", "#6b46c1"];
const WINDOW = 300; // seconds shown
let since = 0;
const store = {}; // model -> {points: [], predicted: {}, totals: {}}
let rollouts = {}; // incumbent name -> RolloutStatus (serve.rollout_state)
let drift = {}; // model -> its latest DriftReport (measure.drift), null before the first window is judged

function fmt(x, d) { return x === null || x === undefined ? "-" : Number(x).toFixed(d); }

function drawChart(canvas, series, times) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  canvas.width = w * dpr; canvas.height = h * dpr;
  const ctx = canvas.getContext("2d");
  ctx.scale(dpr, dpr);
  ctx.clearRect(0, 0, w, h);
  const pad = {l: 48, r: 8, t: 18, b: 18};
  let max = 0, n = 0;
  for (const s of series) for (const v of s.values) if (v !== null && v !== undefined) { max = Math.max(max, v); n++; }
  max = max > 0 ? max * 1.1 : 1;
  ctx.strokeStyle = "#e2e8f0"; ctx.fillStyle = "#5b6570"; ctx.font = "11px system-ui"; ctx.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = pad.t + (h - pad.t - pad.b) * i / 4;
    ctx.beginPath(); ctx.moveTo(pad.l, y); ctx.lineTo(w - pad.r, y); ctx.stroke();
    const label = max * (1 - i / 4);
    ctx.fillText(label >= 100 ? label.toFixed(0) : label >= 1 ? label.toFixed(1) : label.toPrecision(2), 4, y + 4);
  }
  const t1 = times.length ? times[times.length - 1] : 0, t0 = t1 - WINDOW;
  const x = t => pad.l + (w - pad.l - pad.r) * (t - t0) / WINDOW;
  const y = v => pad.t + (h - pad.t - pad.b) * (1 - v / max);
  let lx = pad.l + 4;
  series.forEach((s, k) => {
    ctx.strokeStyle = s.color || COLORS[k % COLORS.length]; ctx.lineWidth = 1.8;
    ctx.setLineDash(s.dash ? [5, 4] : []);
    ctx.beginPath();
    let pen = false;
    s.values.forEach((v, i) => {
      if (v === null || v === undefined || times[i] < t0) { pen = false; return; }
      if (pen) ctx.lineTo(x(times[i]), y(v)); else ctx.moveTo(x(times[i]), y(v));
      pen = true;
    });
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = ctx.strokeStyle; ctx.fillText(s.name, lx, 12); lx += ctx.measureText(s.name).width + 14;
  });
  canvas.dataset.points = String(n);
  canvas.dataset.max = String(max);
}

function render() {
  const sel = document.getElementById("model");
  const name = sel.value;
  const m = store[name];
  if (!m) return;
  const p = m.points.slice(-WINDOW);
  const t = p.map(q => q.t);
  const col = k => p.map(q => q[k]);
  const last = p.length ? p[p.length - 1] : {};
  const pred = m.predicted || {};
  // a live point and the navigator's prediction name the same figure the same way (serve.metrics.LivePoint)
  const predCost = pred.usd_per_1m ?? null;
  drawChart(document.getElementById("c-throughput"), [{name: "rows/s", values: col("throughput_per_s")},
    ...(pred.throughput_per_s ? [{name: "navigator", values: p.map(() => pred.throughput_per_s), dash: true, color: "#718096"}] : [])], t);
  drawChart(document.getElementById("c-latency"), [{name: "p50", values: col("p50")}, {name: "p95", values: col("p95")},
    {name: "p99", values: col("p99")}], t);
  drawChart(document.getElementById("c-batch"), [{name: "mean batch", values: col("batch")},
    {name: "cap", values: col("max_batch_size"), dash: true}], t);
  drawChart(document.getElementById("c-queue"), [{name: "queued rows", values: col("queue")}], t);
  drawChart(document.getElementById("c-errors"), [{name: "errors", values: col("errors"), color: COLORS[2]},
    {name: "refused (429/503/504)", values: col("rejected"), color: COLORS[1]}], t);
  drawChart(document.getElementById("c-cost"), [{name: "live", values: col("usd_per_1m")},
    ...(predCost !== null ? [{name: "navigator", values: p.map(() => predCost), dash: true, color: "#718096"}] : [])], t);
  document.getElementById("v-throughput").textContent = fmt(last.throughput_per_s, 1);
  document.getElementById("v-latency").textContent = `${fmt(last.p50, 1)} / ${fmt(last.p95, 1)} / ${fmt(last.p99, 1)}`;
  document.getElementById("v-batch").textContent = `${fmt(last.batch, 1)} / ${last.max_batch_size ?? "-"}`;
  document.getElementById("v-queue").textContent = String(last.queue ?? "-");
  const tot = m.totals || {};
  document.getElementById("v-totals").textContent = `${tot.requests ?? 0} / ${tot.errors ?? 0} / ${tot.rejected ?? 0}`;
  document.getElementById("v-cost").textContent = `${fmt(last.usd_per_1m, 3)} / ${predCost === null ? "-" : fmt(predCost, 3)}`;
  // a generative model's rows are output tokens: the same figures, per token (serve.metrics.LivePoint)
  const unit = m.generative ? "output tokens" : "rows";
  document.getElementById("k-throughput").textContent = `throughput (${unit}/s)`;
  document.getElementById("h-cost").textContent = `Cost, USD per 1M ${m.generative ? "output tokens" : "inferences"} (live vs navigator)`;
  drawChart(document.getElementById("c-tokens"), [{name: "first token p50", values: col("ttft_p50")},
    {name: "first token p95", values: col("ttft_p95")}, {name: "per token p50", values: col("tpot_p50")},
    {name: "per token p95", values: col("tpot_p95")}], t);
  document.getElementById("v-tokens").textContent = m.generative ?
    `${fmt(last.ttft_p50, 1)} / ${fmt(last.tpot_p95, 1)} / ${last.streams ?? "-"}` : "-";
  document.getElementById("v-fidelity").textContent = last.fidelity === null || last.fidelity === undefined ?
    "-" : `${fmt(last.fidelity, 5)} (${m.shadow_samples})`;
  renderRollout(name);
  renderDrift(name);
}

function renderDrift(name) {
  // lepton serve --drift: the latest judged window of the selected model against its reference
  const panel = document.getElementById("drift");
  panel.hidden = !(name in drift);
  if (panel.hidden) return;
  const r = drift[name];
  const state = document.getElementById("d-state");
  const body = document.getElementById("d-features");
  body.replaceChildren();
  if (!r || !r.judged) {
    state.textContent = "waiting"; state.className = "phase waiting";
    document.getElementById("d-window").textContent = r ? `${r.window_rows} live rows so far` : "no window judged yet";
    return;
  }
  const drifted = r.features.filter(f => f.drifted).map(f => f.name);
  state.textContent = r.alert ? "drift" : "no drift"; state.className = `phase ${r.alert ? "alert" : "ok"}`;
  document.getElementById("d-window").textContent = `${r.window_rows} live rows against ${r.reference} ` +
    `(${r.reference_rows} rows)` + (drifted.length ? `; drifted: ${drifted.join(", ")}` : "") +
    (r.skipped ? `; ${r.skipped} requests skipped (queue full)` : "");
  const order = [...r.features].sort((a, b) => (b.drifted - a.drifted) || (b.psi - a.psi));
  for (const f of order.slice(0, 12)) {
    const tr = document.createElement("tr");
    tr.dataset.feature = f.name;
    if (f.drifted) tr.className = "drifted";
    for (const text of [f.name, f.kind, fmt(f.psi, 3), fmt(f.ks, 3), f.p_value === null || f.p_value === undefined ?
      "-" : Number(f.p_value).toExponential(2), f.drifted ? "yes" : ""]) {
      tr.appendChild(cell(text));
    }
    body.appendChild(tr);
  }
}

function cell(text) { const td = document.createElement("td"); td.textContent = text; return td; }

function renderRollout(name) {
  // the rollout of the selected model, or of the model whose candidate is selected ("NAME:candidate")
  const r = rollouts[name] || rollouts[name.replace(/:candidate$/, "")];
  const panel = document.getElementById("rollout");
  panel.hidden = !r;
  if (!r) return;
  const ev = r.evidence;
  const phase = document.getElementById("r-phase");
  phase.textContent = r.phase.replace("_", " "); phase.className = `phase ${r.phase}`;
  document.getElementById("r-share").textContent =
    `candidate answers ${fmt(r.share * 100, 0)}%, shadows ${fmt(r.shadow_rate * 100, 0)}% (${r.plan.candidate})`;
  document.getElementById("r-test").textContent = `SPRT: ${ev.compared} compared (${ev.dropped ?? 0} shadow copies dropped), agreement ${fmt(ev.agreement, 3)} ` +
    `within max-drop ${r.plan.max_drop}, mean cosine ${fmt(ev.mean_cosine, 5)}; log-likelihood ratio ${fmt(ev.llr, 2)} ` +
    `(promote at <= ${fmt(ev.lower, 2)}, roll back at >= ${fmt(ev.upper, 2)}, after ${r.plan.min_samples})`;
  const body = document.getElementById("r-variants");
  body.replaceChildren();
  for (const [label, v] of [["incumbent", ev.incumbent], ["candidate", ev.candidate]]) {
    if (!v) continue;
    const tr = document.createElement("tr");
    tr.dataset.variant = label;
    for (const text of [label, v.artifact_id.slice(0, 12), v.requests ?? 0, v.shadowed ?? 0, v.errors ?? 0,
      v.timeouts ?? 0, fmt(v.p50, 2), fmt(v.p95, 2), fmt(v.p99, 2), fmt(v.service_p50, 3), fmt(v.shadow_cpu_p50, 3),
      fmt(v.usd_per_1m, 4)]) {
      tr.appendChild(cell(String(text)));
    }
    body.appendChild(tr);
  }
  const list = document.getElementById("r-events");
  list.replaceChildren();
  for (const e of r.events.slice(-8)) {
    const li = document.createElement("li");
    li.textContent = `${new Date(e.t * 1000).toLocaleTimeString()} ${e.action} -> ${e.phase.replace("_", " ")} ` +
      `${fmt(e.share * 100, 0)}% (by ${e.by}): ${e.reason}`;
    list.appendChild(li);
  }
}

async function poll() {
  try {
    const r = await fetch(`/dashboard/data?since=${since}`, {cache: "no-store"});
    const d = await r.json();
    const sel = document.getElementById("model");
    for (const [name, m] of Object.entries(d.models)) {
      if (!store[name]) {
        store[name] = {points: []};
        const o = document.createElement("option"); o.value = name; o.textContent = name; sel.appendChild(o);
      }
      const s = store[name];
      s.points.push(...m.points); if (s.points.length > 2 * WINDOW) s.points.splice(0, s.points.length - WINDOW);
      s.predicted = m.predicted; s.totals = m.totals; s.shadow_samples = m.shadow_samples; s.generative = m.generative;
      for (const q of m.points) since = Math.max(since, q.t);
    }
    rollouts = d.rollouts || {};
    drift = d.drift || {};
    document.getElementById("status").textContent = `${d.ready ? "ready" : "not ready"} - updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
    render();
  } catch (e) {
    document.getElementById("status").textContent = `disconnected (${e})`;
  }
}

document.getElementById("model").addEventListener("change", render);
window.addEventListener("resize", render);
poll();
setInterval(poll, 1000);
