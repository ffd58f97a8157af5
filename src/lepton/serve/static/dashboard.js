// Lepton live dashboard: polls /dashboard/data once a second and draws small canvas line charts.
"use strict";
const COLORS = ["#2b6cb0", "#d97706", "#c53030", "#2f855a", "#6b46c1"];
const WINDOW = 300; // seconds shown
let since = 0;
const store = {}; // model -> {points: [], predicted: {}, totals: {}}

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
  document.getElementById("v-fidelity").textContent = last.fidelity === null || last.fidelity === undefined ?
    "-" : `${fmt(last.fidelity, 5)} (${m.shadow_samples})`;
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
      s.predicted = m.predicted; s.totals = m.totals; s.shadow_samples = m.shadow_samples;
      for (const q of m.points) since = Math.max(since, q.t);
    }
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
