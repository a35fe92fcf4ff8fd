/**
 * The live page: the pipeline's graph (one box per vertex, columns by depth) with each vertex's
 * rate and backlog, updated from /events. Self-contained: no script or style from elsewhere.
 */
export function livePage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ringflow</title>
<style>
 body { font: 14px system-ui, sans-serif; margin: 16px; color: #222; }
 h1 { font-size: 18px; margin: 0 0 8px; }
 #status { color: #666; margin-bottom: 12px; }
 svg { border: 1px solid #ddd; background: #fcfcfc; }
 .box rect { fill: #eef4ff; stroke: #4a74c9; rx: 6; }
 .box.source rect { fill: #eefaf0; stroke: #3a9a55; }
 .box.sink rect { fill: #fff4e8; stroke: #c9832f; }
 .box text { font-size: 12px; }
 .name { font-weight: 600; }
 .edge { stroke: #888; fill: none; marker-end: url(#arrow); }
 table { border-collapse: collapse; margin-top: 12px; }
 td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
 th:first-child, td:first-child { text-align: left; }
</style></head>
<body>
<h1>ringflow pipeline</h1>
<div id="status">connecting…</div>
<svg id="graph" width="900" height="240"><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#888"/></marker></defs></svg>
<table id="services"></table>
<script>
const W = 170, H = 64, GAP_X = 60, GAP_Y = 20;
let plan, previous;
const svg = document.getElementById('graph');
const fmt = (n) => n >= 1e6 ? (n / 1e6).toFixed(2) + 'M' : n >= 1e3 ? (n / 1e3).toFixed(1) + 'k' : String(Math.round(n));
const place = (p) => {
  const depth = new Map();
  const of = (id) => {
    if (depth.has(id)) return depth.get(id);
    const ins = p.edges.filter((e) => e.to === id);
    const d = ins.length ? Math.max(...ins.map((e) => of(e.from))) + 1 : 0;
    depth.set(id, d); return d;
  };
  p.vertices.forEach((v) => of(v.id));
  const rows = new Map();
  for (const v of p.vertices) { const d = depth.get(v.id); const r = rows.get(d) ?? 0; rows.set(d, r + 1); v.x = 10 + d * (W + GAP_X); v.y = 10 + r * (H + GAP_Y); }
  svg.setAttribute('width', String(Math.max(400, 20 + Math.max(...p.vertices.map((v) => v.x)) + W)));
  svg.setAttribute('height', String(Math.max(100, 20 + Math.max(...p.vertices.map((v) => v.y)) + H)));
};
const draw = () => {
  for (const el of [...svg.querySelectorAll('.box, .edge')]) el.remove();
  const byId = new Map(plan.vertices.map((v) => [v.id, v]));
  for (const e of plan.edges) {
    const a = byId.get(e.from), b = byId.get(e.to);
    const path = document.createElementNS('http://www.w3.org/2000/svg', 'path');
    path.setAttribute('class', 'edge');
    path.setAttribute('d', 'M' + (a.x + W) + ',' + (a.y + H / 2) + ' C' + (a.x + W + GAP_X / 2) + ',' + (a.y + H / 2) + ' ' + (b.x - GAP_X / 2) + ',' + (b.y + H / 2) + ' ' + b.x + ',' + (b.y + H / 2));
    svg.appendChild(path);
  }
  for (const v of plan.vertices) {
    const g = document.createElementNS('http://www.w3.org/2000/svg', 'g');
    g.setAttribute('class', 'box ' + v.kind); g.setAttribute('data-vertex', String(v.id));
    g.innerHTML = '<rect width="' + W + '" height="' + H + '" x="' + v.x + '" y="' + v.y + '"></rect>' +
      '<text class="name" x="' + (v.x + 8) + '" y="' + (v.y + 18) + '"></text>' +
      '<text class="rate" x="' + (v.x + 8) + '" y="' + (v.y + 36) + '">–</text>' +
      '<text class="backlog" x="' + (v.x + 8) + '" y="' + (v.y + 52) + '"></text>';
    g.querySelector('.name').textContent = v.name + (v.kind === 'worker' ? ' ×' + v.parallelism : '');
    svg.appendChild(g);
  }
};
const update = (s) => {
  const job = s.job; if (!job || !plan) return;
  const seconds = previous ? Math.max(0.001, (s.at - previous.at) / 1000) : 0;
  for (const v of plan.vertices) {
    const g = svg.querySelector('[data-vertex="' + v.id + '"]'); if (!g) continue;
    let total, before, unit = 'records', backlog = '';
    if (v.kind === 'source') { total = job.sources[v.name] ?? 0; before = previous?.job?.sources[v.name] ?? 0; }
    else if (v.kind === 'sink') { total = job.sinks[v.name] ?? 0; before = previous?.job?.sinks[v.name] ?? 0; }
    else {
      const mine = job.stages.filter((x) => x.name === v.name);
      total = mine.reduce((n, x) => n + x.recordsIn, 0);
      before = (previous?.job?.stages ?? []).filter((x) => x.name === v.name).reduce((n, x) => n + x.recordsIn, 0);
      const errors = mine.reduce((n, x) => n + x.failures, 0);
      backlog = 'backlog ' + fmt(mine.reduce((n, x) => n + x.backlogBytes, 0)) + ' B' + (errors ? ' · errors ' + fmt(errors) : '');
    }
    g.querySelector('.rate').textContent = fmt(total) + ' ' + unit + (previous ? ' · ' + fmt((total - before) / seconds) + '/s' : '');
    g.querySelector('.backlog').textContent = backlog;
  }
  document.getElementById('status').textContent = (s.running ? 'running' : 'idle') + ' · failures ' + job.failures + ' · ' + new Date(s.at).toLocaleTimeString();
  const table = document.getElementById('services');
  table.innerHTML = s.services.length ? '<tr><th>service</th><th>state</th><th>requests</th><th>errors</th><th>p50 µs</th><th>p99 µs</th></tr>' +
    s.services.map((x) => '<tr><td>' + x.name + '</td><td>' + x.state + '</td><td>' + x.requests + '</td><td>' + x.errors + '</td><td>' + x.latency.p50.toFixed(1) + '</td><td>' + x.latency.p99.toFixed(1) + '</td></tr>').join('') : '';
  previous = s;
};
const events = new EventSource('/events');
events.addEventListener('plan', (e) => { plan = JSON.parse(e.data); place(plan); draw(); document.getElementById('status').textContent = 'connected'; });
events.addEventListener('snapshot', (e) => update(JSON.parse(e.data)));
events.onerror = () => { document.getElementById('status').textContent = 'disconnected'; };
</script>
</body></html>
`;
}
