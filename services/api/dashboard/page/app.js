// The dashboard's script: reads the node's JSON routes every few seconds and
// draws them with uPlot (served beside this file). Plain browser JavaScript,
// no build step and no network beyond the node itself. The token typed in
// the header is kept in sessionStorage (gone with the tab) and sent as
// `Authorization: Bearer`; it is never written into the page.
/* global uPlot */
'use strict';

const REFRESH_MS = 3000;
const TOKEN_KEY = 'headroom.token';
const COLORS = ['#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed', '#0891b2', '#be185d', '#4b5563'];

/** What the page last drew; the browser test reads it. */
const state = { overview: null, pools: null, token: null, rules: null, charts: {}, errors: [] };
window.headroomDashboard = state;

const $ = (sel) => document.querySelector(sel);

function el(tag, text, attrs) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  for (const [k, v] of Object.entries(attrs ?? {})) e.setAttribute(k, v);
  return e;
}

function row(cells, attrs) {
  const tr = el('tr', undefined, attrs);
  for (const c of cells) {
    const td = el('td');
    if (c instanceof Node) td.append(c);
    else td.textContent = c === null || c === undefined ? '–' : String(c);
    tr.append(td);
  }
  return tr;
}

function fill(tbody, rows, empty, span) {
  tbody.replaceChildren(...(rows.length > 0 ? rows : [row([empty], { class: 'muted' })]));
  if (rows.length === 0) tbody.firstChild.firstChild.setAttribute('colspan', String(span));
}

const fmt = (n, digits = 1) =>
  n === null || n === undefined || Number.isNaN(n) ? '–' : Number(n).toFixed(digits);
const pct = (x) => (x === null || x === undefined ? '–' : `${(100 * x).toFixed(1)} %`);
const when = (ms) =>
  ms === null || ms === undefined ? '–' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19);

function problem(text) {
  const p = $('#problem');
  p.hidden = text === null;
  p.textContent = text ?? '';
}

async function api(path, init = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = { ...(init.headers ?? {}) };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(path, { ...init, headers });
  const body = await res.json();
  if (body && body.error) {
    const err = new Error(`${body.error.code}: ${body.error.message}`);
    err.status = res.status;
    throw err;
  }
  return body;
}

/** Draws (or redraws) a uPlot chart in `id`; `data[0]` is the time axis in seconds. */
function chart(id, opts, data) {
  const box = document.getElementById(id);
  const points = data.slice(1).reduce((n, s) => n + s.filter((v) => v !== null && v !== undefined).length, 0);
  box.dataset.points = String(points);
  const old = state.charts[id];
  // Same title and lines: new data only (keeps the legend's toggles); otherwise a new chart.
  if (old && old.headroomTitle === opts.title && old.series.length === opts.series.length) {
    old.setData(data);
    return old;
  }
  if (old) old.destroy();
  box.replaceChildren();
  const u = new uPlot({ width: widthOf(box), height: 240, ...opts }, data, box);
  u.headroomTitle = opts.title;
  state.charts[id] = u;
  return u;
}

const widthOf = (box) => Math.max(320, box.clientWidth || 640);

window.addEventListener('resize', () => {
  for (const [id, u] of Object.entries(state.charts)) {
    u.setSize({ width: widthOf(document.getElementById(id)), height: 240 });
  }
});

const line = (label, i, extra = {}) => ({
  label,
  stroke: COLORS[i % COLORS.length],
  width: 2,
  points: { show: false },
  ...extra,
});
/** A line with few points (a forecast's horizons): its points shown. */
const sparse = (label, i, extra = {}) => line(label, i, { points: { show: true, size: 5 }, ...extra });

// ---- overview: nodes, actors, top tokens, trainer ----

function drawOverview(o) {
  state.overview = o;
  fill(
    $('#nodes-table tbody'),
    o.nodes.map((n) => row([n.id, n.actors, n.error ? `error: ${n.error}` : 'live'])),
    'no nodes',
    3,
  );
  const ids = Object.keys(o.actors.lines);
  chart(
    'chart-actors',
    {
      title: 'Live token actors per node',
      series: [{}, ...ids.map((id, i) => line(id, i))],
      axes: [{}, { label: 'actors' }],
    },
    [o.actors.t.map((ms) => ms / 1000), ...ids.map((id) => o.actors.lines[id])],
  );

  const pick = (t) => {
    const a = el('a', t.token, { href: '#token', class: 'token-link' });
    a.addEventListener('click', () => {
      $('#token-input').value = t.token;
      void showToken();
    });
    return a;
  };
  const top = o.topTokens;
  $('#top-note').textContent =
    `${top.scanned} live tokens looked at across ${o.nodes.length} node(s); ${o.rules} rule(s).`;
  fill(
    $('#top-rate tbody'),
    top.byRate.map((t) => row([pick(t), t.node, fmt(t.rate, 2), t.requests, t.denied])),
    'no live tokens',
    5,
  );
  fill(
    $('#top-throttled tbody'),
    top.byThrottled.map((t) => row([pick(t), t.node, pct(t.throttledShare), t.denied, t.requests])),
    'nothing throttled in the last 60 s',
    5,
  );
  if (!$('#token-input').value && top.byRate.length > 0) {
    $('#token-input').value = top.byRate[0].token;
    void showToken();
  }
  drawTrainer(o.trainer);
}

function drawTrainer(t) {
  const info = $('#trainer-info');
  if (t === null) {
    info.textContent = 'No trainer answers in this cluster (forecasting or the trainer is off).';
    fill($('#trainer-table tbody'), [], 'no versions', 9);
    return;
  }
  info.textContent =
    `${t.training ? 'training now; ' : ''}${t.runs} run(s), ${t.promotions} promotion(s)` +
    `; recent live WAPE ${fmt(t.recentWape, 3)}; next run ${when(t.nextRunMs)}`;
  fill(
    $('#trainer-table tbody'),
    t.versions.map((v) => {
      const baselines = Object.entries(v.scores)
        .filter(([name]) => name !== 'candidate' && name !== 'current')
        .map(([name, s]) => `${name} ${fmt(s.wape, 3)}`)
        .join(', ');
      const cand = v.scores.candidate;
      return row([
        v.version,
        v.kind,
        v.status,
        v.serving ? 'yes' : '',
        when(v.createdMs),
        cand ? fmt(cand.wape, 3) : '–',
        baselines || '–',
        cand ? pct(cand.coverage80) : '–',
        v.reason,
      ]);
    }),
    'no model version yet (the trainer needs collected data)',
    9,
  );
}

// ---- one token ----

async function showToken() {
  const raw = $('#token-input').value.trim();
  if (!raw) return;
  const q = raw.startsWith('{') ? `params=${encodeURIComponent(raw)}` : `token=${encodeURIComponent(raw)}`;
  try {
    drawToken(await api(`/v1/dashboard/token?${q}`));
  } catch (err) {
    $('#token-info').textContent = err.message;
  }
}

function drawToken(reply) {
  state.token = reply;
  const t = reply.tokens.find((x) => x.state === 'live') ?? reply.tokens[0];
  const info = $('#token-info');
  if (!t) {
    info.textContent = 'No rule applies to these parameters.';
    return;
  }
  if (t.state !== 'live') {
    info.textContent = `${t.token}: ${t.error ?? (t.state === 'dormant' ? 'passivated (no recent request)' : 'no live actor')}`;
    return;
  }
  const f = t.forecast;
  info.textContent =
    `${t.token} on ${t.owner}, rule ${t.rule} (${t.mode}), limit ${fmt(t.limitPerSecond, 2)} req/s, burst ${t.burst}` +
    (f ? `; forecast by ${f.model ?? 'model'} made ${when(f.madeMs)}` : '; no forecast yet');
  // One time axis: the last 60 s of demand, then the forecast's horizons.
  const past = t.requests.map((_, i) => t.startMs + i * t.stepMs);
  const future = f ? f.horizonsMs.map((h) => f.madeMs + h) : [];
  const xs = [...new Set([...past, ...future])].sort((a, b) => a - b);
  const at = (times, values) => {
    const m = new Map(times.map((x, i) => [x, values[i]]));
    return xs.map((x) => (m.has(x) ? m.get(x) : null));
  };
  const data = [
    xs.map((x) => x / 1000),
    at(past, t.requests),
    at(past, t.denied),
    xs.map(() => t.limitPerSecond),
    f ? at(future, f.p10) : xs.map(() => null),
    f ? at(future, f.p50) : xs.map(() => null),
    f ? at(future, f.p90) : xs.map(() => null),
  ];
  chart(
    'chart-token',
    {
      title: `${t.token}: requests per second`,
      series: [
        {},
        line('demand (req/s)', 0),
        line('throttled (req/s)', 1),
        line('limit (req/s)', 7, { dash: [6, 4] }),
        sparse('forecast p10', 2, { width: 1 }),
        sparse('forecast p50', 2, { dash: [3, 3] }),
        sparse('forecast p90', 2, { width: 1 }),
      ],
      bands: [{ series: [6, 4], fill: 'rgba(5,150,105,0.15)' }],
      axes: [{}, { label: 'requests / s' }],
    },
    data,
  );
}

// ---- pools ----

function drawPools(p) {
  state.pools = p;
  const info = $('#pools-info');
  const box = $('#pool-charts');
  if (p.pools.length === 0) {
    info.textContent = 'No pools in this cluster (start nodes with --pools FILE).';
    return;
  }
  info.textContent = `${p.pools.length} pool(s), one sample every ${p.stepMs / 1000} s.`;
  for (const pool of p.pools) {
    const id = `chart-pool-${pool.name.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    if (!document.getElementById(id))
      box.append(el('div', undefined, { id, class: 'chart pool-chart', 'data-points': '0' }));
    const L = pool.lines;
    chart(
      id,
      {
        title: `pool ${pool.name}`,
        series: [
          {},
          line('units', 0, { scale: 'units' }),
          line('ready units', 2, { scale: 'units', dash: [4, 3] }),
          line('demand (req/s)', 1, { scale: 'rps' }),
          line('forecast p10', 4, { scale: 'rps', width: 1 }),
          line('forecast p50', 4, { scale: 'rps', dash: [3, 3] }),
          line('forecast p90', 4, { scale: 'rps', width: 1 }),
        ],
        bands: [{ series: [6, 4], fill: 'rgba(124,58,237,0.12)' }],
        scales: { units: {}, rps: {} },
        axes: [
          {},
          { scale: 'units', label: 'units' },
          { scale: 'rps', side: 1, label: 'requests / s', grid: { show: false } },
        ],
      },
      [pool.t.map((ms) => ms / 1000), L.units, L.readyUnits, L.demand, L.p10, L.p50, L.p90],
    );
  }
}

// ---- rules ----

function drawRules(r) {
  state.rules = r;
  fill(
    $('#rules-table tbody'),
    r.rules.map((rule) => {
      const edit = el('button', 'edit', { type: 'button' });
      edit.addEventListener('click', () => {
        $('#rule-json').value = JSON.stringify(rule);
      });
      const del = el('button', 'delete', { type: 'button' });
      del.addEventListener('click', () => void deleteRule(rule.id));
      const actions = el('span');
      actions.append(edit, del);
      return row([
        rule.id,
        rule.key.join(', '),
        rule.rate,
        rule.period,
        rule.burst,
        rule.mode ?? 'enforce',
        actions,
      ]);
    }),
    'no rules yet',
    7,
  );
}

async function putRule(ev) {
  ev.preventDefault();
  const out = $('#rule-result');
  try {
    const reply = await api('/v1/rules', { method: 'PUT', body: $('#rule-json').value });
    out.textContent = `saved ${reply.rule.id}`;
    drawRules(await api('/v1/rules'));
  } catch (err) {
    out.textContent = err.status === 403 ? 'the admin token is needed to change rules' : err.message;
  }
}

async function deleteRule(id) {
  const out = $('#rule-result');
  try {
    await api(`/v1/rules/${encodeURIComponent(id)}`, { method: 'DELETE' });
    out.textContent = `deleted ${id}`;
    drawRules(await api('/v1/rules'));
  } catch (err) {
    out.textContent = err.status === 403 ? 'the admin token is needed to change rules' : err.message;
  }
}

// ---- refresh loop ----

async function refresh() {
  try {
    const [overview, pools, rules] = await Promise.all([
      api('/v1/dashboard/overview'),
      api('/v1/dashboard/pools'),
      api('/v1/rules'),
    ]);
    drawOverview(overview);
    drawPools(pools);
    drawRules(rules);
    if ($('#token-input').value) await showToken();
    $('#updated').textContent = `updated ${when(overview.atMs)} UTC`;
    problem(null);
  } catch (err) {
    state.errors.push(err.message);
    problem(
      err.status === 401 ? 'This node needs a token: type the read (or admin) token above.' : err.message,
    );
  }
}

function main() {
  const input = $('#api-token');
  input.value = sessionStorage.getItem(TOKEN_KEY) ?? '';
  $('#token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (input.value) sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    else sessionStorage.removeItem(TOKEN_KEY);
    void refresh();
  });
  $('#token-query').addEventListener('submit', (ev) => {
    ev.preventDefault();
    void showToken();
  });
  $('#rule-form').addEventListener('submit', (ev) => void putRule(ev));
  void refresh();
  setInterval(() => void refresh(), REFRESH_MS);
}

main();
