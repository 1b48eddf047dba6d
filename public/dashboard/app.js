// seqd dashboard: plain browser JavaScript, no build step. Every value from the server is put in
// the page as text (textContent), never as HTML, so a site name with markup in it stays text.

const $ = (sel) => document.querySelector(sel);

/** Creates an element; children are nodes or strings (strings become text nodes). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}

const fmt = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : '–');
const ms = (n) => (typeof n === 'number' ? `${n.toFixed(n < 10 ? 2 : 1)} ms` : '–');
const time = (iso) => new Date(iso).toLocaleTimeString();
const GAP_POLICY_TEXT = {
  'lowest-first': 'on (lowest first)',
  chronological: 'on (chronological: a number released below a held one becomes void)',
  none: 'off (released numbers become void)',
};

async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const json = await res.json().catch(() => ({}));
  if (!res.ok) {
    const e = json.error ?? {};
    const allowed = e.allowed ? ` (allowed: ${e.allowed.join(', ')})` : '';
    throw new Error(`${res.status} ${e.code ?? ''}: ${e.message ?? res.statusText}${allowed}`);
  }
  return json;
}

function setResult(out, ok, text) {
  out.className = `result ${ok ? 'ok' : 'bad'}`;
  out.textContent = text;
}

// ---------------------------------------------------------------- state
const state = {
  config: null,
  lastSnapshot: null,
  timeline: [], // { t, numbers, requests, p99Ms }
  auditCursor: null,
  auditFilter: {},
  lastAuditSeq: -1,
  gapKey: '',
  charts: {},
  /** The series the counters, gap report, audit and verify show (null: the server's default). */
  series: null,
  seriesNames: '',
  /** Series closed before the live window, by name (snapshots carry only live ones). */
  earlier: new Map(),
  /** The server's `earlierSeries` (count and generation) they were read at ('': never read). */
  earlierKey: '',
  /** Numbers the reads of earlier series: only the latest one's answer is kept. */
  earlierRead: 0,
};

/** `series=<name>` for the selected series, or nothing for the default one. */
function seriesParam() {
  return state.series ? `series=${encodeURIComponent(state.series)}` : '';
}

// ---------------------------------------------------------------- generate
function buildGenerate(cfg) {
  const grid = $('#gen-grid');
  grid.replaceChildren();
  for (const site of cfg.sites) {
    for (const partitionId of site.partitions) {
      for (const invoiceType of cfg.invoiceTypes) {
        const label = `${site.id} / ${partitionId} / ${invoiceType}`;
        grid.append(
          el(
            'button',
            {
              type: 'button',
              class: 'gen',
              'data-site': site.id,
              'data-partition': partitionId,
              'data-type': invoiceType,
              'aria-label': `Generate ${label}`,
              onclick: () => generate(site.id, partitionId, invoiceType),
            },
            el('span', { class: 't' }, invoiceType),
            `${site.id} / ${partitionId}`,
          ),
        );
      }
    }
  }
  $('#gen-count').max = String(cfg.maxCount);
  const relSite = $('#rel-site');
  relSite.replaceChildren(...cfg.sites.map((s) => el('option', { value: s.id }, s.id)));
  const fillPartitions = () => {
    const site = cfg.sites.find((s) => s.id === relSite.value) ?? cfg.sites[0];
    $('#rel-partition').replaceChildren(...(site?.partitions ?? []).map((p) => el('option', { value: p }, p)));
  };
  relSite.onchange = fillPartitions;
  fillPartitions();
  const f = $('#audit-filter');
  f.siteId.append(...cfg.sites.map((s) => el('option', { value: s.id }, s.id)));
  const partitions = [...new Set(cfg.sites.flatMap((s) => s.partitions))];
  f.partitionId.append(...partitions.map((p) => el('option', { value: p }, p)));
  f.invoiceType.append(...cfg.invoiceTypes.map((t) => el('option', { value: t }, t)));
}

async function generate(siteId, partitionId, invoiceType) {
  const count = Number($('#gen-count').value || 1);
  try {
    const r = await api('POST', '/api/v1/sequence/next', { siteId, partitionId, invoiceType, count });
    addLastNumber(r);
  } catch (e) {
    addLastError(`${siteId}/${partitionId}/${invoiceType}: ${e.message}`);
  }
}

function addLastNumber(r) {
  const list = $('#last-numbers');
  // The formatted form when a format is configured (it names the series' prefix and year).
  const shown = r.formatted ?? r.numbers;
  const nums = shown.length > 6 ? `${shown.slice(0, 3).join(', ')} … ${shown.slice(-2).join(', ')}` : shown.join(', ');
  const item = el(
    'li',
    { class: 'issued', 'data-number': r.sequenceNumber },
    el('strong', {}, nums),
    ' ',
    el('span', { class: `tag ${r.refilled.length ? 'refill' : ''}` }, r.refilled.length ? `refilled gap${r.refilled.length > 1 ? 's' : ''} ${r.refilled.join(', ')}` : 'counter'),
    ' ',
    r.status === 'released' ? el('span', { class: 'tag released' }, 'released at once (suppressed)') : '',
    ` ${r.series} · ${r.siteId} / ${r.partitionId} / ${r.invoiceType} · ${r.node} · ${time(r.timestamp)}`,
  );
  list.prepend(item);
  while (list.children.length > 30) list.lastElementChild.remove();
}

function addLastError(text) {
  const list = $('#last-numbers');
  list.prepend(el('li', { class: 'result bad' }, text));
}

$('#release-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const out = $('#rel-result');
  try {
    const r = await api('POST', '/api/v1/sequence/release', {
      sequenceNumber: Number($('#rel-number').value),
      siteId: $('#rel-site').value,
      partitionId: $('#rel-partition').value,
      reason: $('#rel-reason').value,
      ...($('#rel-series').value.trim() ? { series: $('#rel-series').value.trim() } : {}),
    });
    setResult(out, true, `${r.series}: number ${r.sequenceNumber} released: ${r.status === 'open' ? 'open gap' : 'void'} (${r.reason})`);
  } catch (e) {
    setResult(out, false, e.message);
  }
});

$('#sim-toggle').addEventListener('change', async (ev) => {
  const enabled = ev.target.checked;
  try {
    await api('PUT', '/api/v1/settings', { simulatedEnabled: enabled, reason: 'dashboard toggle' });
  } catch (e) {
    ev.target.checked = !enabled;
    addLastError(e.message);
  }
});

// ---------------------------------------------------------------- live counters
function renderSnapshot(s) {
  state.lastSnapshot = s;
  syncEarlierSeries(s);
  renderSeriesPicker(s);
  const shown = state.series ?? s.defaultSeries;
  const main = s.series.find((x) => x.name === shown) ?? state.earlier.get(shown) ?? {};
  $('#series-meta').textContent = main.archivedTo
    ? `archived to ${main.archivedTo}: final figures; its events and gaps are in that file`
    : main.closed
      ? 'closed (its period ended): final figures'
      : main.name
        ? ''
        : 'no number issued in it yet';
  $('#c-hwm').textContent = fmt(main.highWaterMark);
  $('#c-issued').textContent = fmt(main.issued);
  $('#c-open').textContent = fmt(main.openGaps);
  $('#c-refills').textContent = fmt(main.refilled);
  $('#c-void').textContent = fmt(main.voidGaps);
  $('#c-rate').textContent = fmt(Math.round(s.perf.numbersPerSecond));
  const l = s.perf.latencyMs;
  $('#c-lat').textContent = s.perf.requests ? `${ms(l.p50)} / ${ms(l.p95)} / ${ms(l.p99)}` : '–';
  $('#c-events').textContent = fmt(main.auditEvents);
  $('#sim-toggle').checked = s.settings.simulatedEnabled;
  $('#node').textContent = `node ${s.node} · ${s.store.kind} store · gap policy ${s.settings.gapPolicy ?? (s.settings.gapRecoveryEnabled ? 'lowest-first' : 'none')}`;
  mergeTimeline(s.timeline);
  renderCharts(s);
  renderHealth(s);
  maybeRefreshAudit(main.auditEvents ?? 0);
  const gapKey = `${main.openGaps}/${main.voidGaps}/${main.refilled}/${main.released}`;
  if (gapKey !== state.gapKey) {
    state.gapKey = gapKey;
    void loadGaps();
  }
}

/**
 * Reads the series closed before the live window from the series list, once per change the
 * snapshot announces: their final figures do not change, so they are not sent every tick.
 */
function syncEarlierSeries(s) {
  const earlier = s.earlierSeries ?? { count: 0, generation: '' };
  const key = `${earlier.count}/${earlier.generation}`;
  if (key === state.earlierKey) return;
  state.earlierKey = key;
  if (earlier.count === 0 && state.earlier.size === 0) return;
  const read = ++state.earlierRead;
  api('GET', '/api/v1/sequence/series')
    .then((r) => {
      if (read !== state.earlierRead) return;
      const live = new Set(state.lastSnapshot.series.map((x) => x.name));
      state.earlier = new Map(
        r.series
          .filter((x) => !live.has(x.name))
          .map((x) => [
            x.name,
            {
              name: x.name,
              start: x.start,
              highWaterMark: x.highWaterMark,
              issued: x.issued,
              refilled: x.refilled,
              released: x.released,
              openGaps: x.openGaps,
              voidGaps: x.voidGaps,
              auditEvents: x.auditEvents,
              closed: x.status !== 'open',
              archivedTo: x.archive?.file ?? null,
            },
          ]),
      );
      if (state.lastSnapshot) renderSnapshot(state.lastSnapshot);
    })
    .catch(() => {
      // Tried again at the next snapshot.
      if (read === state.earlierRead) state.earlierKey = '';
    });
}

/** Keeps the series list current; a new default is followed unless the user picked one. */
function renderSeriesPicker(s) {
  const names = [...new Set([...s.series.map((x) => x.name), ...state.earlier.keys()])].sort();
  if (!names.includes(s.defaultSeries)) names.unshift(s.defaultSeries);
  const key = `${s.defaultSeries}|${names.join(',')}`;
  if (key === state.seriesNames) return;
  state.seriesNames = key;
  const select = $('#series-select');
  select.replaceChildren(
    ...names.map((n) => el('option', { value: n }, n === s.defaultSeries ? `${n} (current)` : n)),
  );
  select.value = state.series ?? s.defaultSeries;
  $('#series-names').replaceChildren(...names.map((n) => el('option', { value: n })));
}

$('#series-select').addEventListener('change', (ev) => {
  state.series = ev.target.value === state.lastSnapshot?.defaultSeries ? null : ev.target.value;
  state.gapKey = '';
  state.lastAuditSeq = -1;
  state.auditPaged = false;
  if (state.lastSnapshot) renderSnapshot(state.lastSnapshot);
  void loadAudit(false);
});

// ---------------------------------------------------------------- charts (uPlot)
function mergeTimeline(points) {
  for (const p of points) {
    const i = state.timeline.findIndex((x) => x.t === p.t);
    if (i >= 0) state.timeline[i] = p;
    else state.timeline.push(p);
  }
  state.timeline.sort((a, b) => a.t - b.t);
  const cutoff = Math.floor(Date.now() / 1000) - 120;
  state.timeline = state.timeline.filter((p) => p.t > cutoff);
}

function chartWidth(id) {
  return Math.max(240, $(id).clientWidth || 300);
}

function ensureChart(key, id, opts, data) {
  if (!state.charts[key]) {
    state.charts[key] = new uPlot({ width: chartWidth(id), height: 180, ...opts }, data, $(id));
  } else {
    state.charts[key].setData(data);
  }
}

function renderCharts(s) {
  const t = state.timeline.map((p) => p.t);
  ensureChart(
    'timeline',
    '#chart-timeline',
    { legend: { show: true }, series: [{}, { label: 'numbers/s', stroke: '#1f6feb', fill: 'rgba(31,111,235,.12)' }, { label: 'requests/s', stroke: '#8250df' }], axes: [{}, { size: 60 }] },
    [t, state.timeline.map((p) => p.numbers), state.timeline.map((p) => p.requests)],
  );
  ensureChart(
    'latency',
    '#chart-latency',
    { series: [{}, { label: 'p99 ms', stroke: '#cf222e' }], axes: [{}, { size: 50 }] },
    [t, state.timeline.map((p) => p.p99Ms)],
  );
  const rows = s.totals;
  const short = (v) => v.replace(/^site-/, 's').replace(/^partition-/, 'p').replace(/-cycle$/, '');
  const labels = rows.map((r) => `${short(r.siteId)}/${short(r.partitionId)}/${short(r.invoiceType)}`);
  const bars = uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.7, 60] }) : undefined;
  const key = `dist:${labels.join('|')}`;
  if (state.charts.dist && state.charts.distKey !== key) {
    state.charts.dist.destroy();
    delete state.charts.dist;
  }
  state.charts.distKey = key;
  ensureChart(
    'dist',
    '#chart-dist',
    {
      scales: { x: { time: false } },
      series: [{ label: 'series' }, { label: 'issued', stroke: '#1a7f37', fill: 'rgba(26,127,55,.35)', paths: bars, points: { show: false } }],
      axes: [{ values: (u, splits) => splits.map((v) => (Number.isInteger(v) ? labels[v] ?? '' : '')), rotate: 0, size: 40, font: '10px system-ui' }, { size: 60 }],
      legend: { show: false },
    },
    [rows.map((_, i) => i), rows.map((r) => r.issued)],
  );
}

window.addEventListener('resize', () => {
  for (const [key, id] of [['timeline', '#chart-timeline'], ['latency', '#chart-latency'], ['dist', '#chart-dist']]) {
    state.charts[key]?.setSize({ width: chartWidth(id), height: 180 });
  }
});

// ---------------------------------------------------------------- gap report
async function loadGaps() {
  try {
    const view = $('#gap-view').value;
    const r = await api('GET', `/api/v1/sequence/gaps?status=${encodeURIComponent(view)}&limit=200&${seriesParam()}`);
    $('#gap-summary').textContent = `${fmt(r.openGaps)} open, ${fmt(r.voidGaps)} void, ${fmt(r.refills)} refills so far; gap recovery ${GAP_POLICY_TEXT[r.gapPolicy] ?? (r.gapRecoveryEnabled ? 'on' : 'off')}${r.truncated ? ' · showing the first 200' : ''}`;
    $('#gap-table tbody').replaceChildren(
      ...(r.gaps.length
        ? r.gaps.map((g) =>
            el(
              'tr',
              { 'data-number': g.sequenceNumber, 'data-status': g.status },
              el('td', { class: 'num' }, fmt(g.sequenceNumber)),
              el('td', {}, el('span', { class: `tag ${g.status}` }, g.status)),
              el('td', {}, g.reason ?? ''),
              el('td', {}, `${g.siteId} / ${g.partitionId} / ${g.invoiceType}`),
              el('td', {}, g.releasedAt ? time(g.releasedAt) : g.refilledAt ? `refilled ${time(g.refilledAt)}` : ''),
            ),
          )
        : [el('tr', {}, el('td', { colspan: 5 }, view === 'refilled' ? 'No refilled numbers.' : 'No gaps to show.'))]),
    );
  } catch (e) {
    // An archived series answers where its gaps went: no rows of another series stay shown.
    $('#gap-summary').textContent = e.message;
    $('#gap-table tbody').replaceChildren();
  }
}

$('#gap-view').addEventListener('change', () => void loadGaps());

// ---------------------------------------------------------------- audit
function auditQuery(cursor) {
  const q = new URLSearchParams({ limit: '50' });
  if (state.series) q.set('series', state.series);
  for (const [k, v] of Object.entries(state.auditFilter)) if (v !== '') q.set(k, v);
  if (cursor !== null && cursor !== undefined) q.set('cursor', String(cursor));
  return `/api/v1/audit?${q}`;
}

function auditRow(e) {
  const nums = e.first === null ? '' : e.first === e.last ? fmt(e.first) : `${fmt(e.first)}–${fmt(e.last)}`;
  return el(
    'tr',
    { 'data-seq': e.seq, 'data-event': e.event },
    el('td', { class: 'num' }, e.seq),
    el('td', {}, time(e.timestamp)),
    el('td', {}, el('span', { class: `tag ${e.event === 'refill' ? 'refill' : e.event === 'release' ? 'released' : e.event === 'void' ? 'void' : ''}` }, e.event)),
    el('td', { class: 'num' }, nums),
    el('td', {}, e.siteId ? `${e.siteId} / ${e.partitionId}` : ''),
    el('td', {}, e.invoiceType ?? ''),
    el('td', {}, e.reason ?? ''),
    el('td', { class: 'actor' }, e.actor ?? ''),
    el('td', { class: 'hash', title: e.hash }, e.hash.slice(0, 12)),
  );
}

async function loadAudit(append) {
  try {
    const r = await api('GET', auditQuery(append ? state.auditCursor : null));
    const body = $('#audit-table tbody');
    const rows = r.events.map(auditRow);
    if (append) body.append(...rows);
    else body.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: 9 }, 'No events match.'))]));
    state.auditCursor = r.nextCursor;
    $('#audit-older').disabled = r.nextCursor === null;
  } catch (e) {
    $('#audit-table tbody').replaceChildren(el('tr', {}, el('td', { colspan: 9, class: 'result bad' }, e.message)));
  }
}

let auditBusy = false;
function maybeRefreshAudit(events) {
  const live = Object.values(state.auditFilter).every((v) => v === '') && !state.auditPaged;
  if (events === state.lastAuditSeq || !live || auditBusy) return;
  state.lastAuditSeq = events;
  auditBusy = true;
  void loadAudit(false).finally(() => (auditBusy = false));
}

$('#audit-filter').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  state.auditFilter = Object.fromEntries([...f.entries()].map(([k, v]) => [k, String(v)]));
  state.auditPaged = false;
  void loadAudit(false);
});
$('#audit-clear').addEventListener('click', () => {
  $('#audit-filter').reset();
  state.auditFilter = {};
  state.auditPaged = false;
  state.lastAuditSeq = -1;
  void loadAudit(false);
});
$('#audit-older').addEventListener('click', () => {
  state.auditPaged = true;
  void loadAudit(true);
});
$('#verify-btn').addEventListener('click', async () => {
  const out = $('#verify-result');
  out.className = 'result';
  out.textContent = 'verifying…';
  try {
    const r = await api('GET', `/api/v1/audit/verify?${seriesParam()}`);
    const c = r.continuity;
    const d = r.derived;
    setResult(
      out,
      r.valid,
      r.valid
        ? `${r.series}: valid: ${fmt(r.eventsChecked)} events, numbers ${fmt(c.start)}–${fmt(c.highWaterMark)}: ${fmt(c.held)} held, ${fmt(c.openGaps)} open, ${fmt(c.void)} void; ` +
            `derived tables agree (${fmt(d.numbersChecked)} number records, ${fmt(d.totalsChecked)} totals, ${fmt(d.requestsChecked)} keys) (${r.durationMs} ms)`
        : verifyProblems(r),
    );
  } catch (e) {
    setResult(out, false, e.message);
  }
});

/** An invalid verify report as lines: the chain's problem, then the derived tables' disagreements. */
function verifyProblems(r) {
  const lines = [];
  if (r.continuity.problem) lines.push(r.continuity.problem);
  if (r.derived.checked && !r.derived.valid) {
    lines.push(`derived tables: ${fmt(r.derived.problemCount)} disagreement(s) with the trail`);
    for (const p of r.derived.problems.slice(0, 10)) lines.push(`• ${p}`);
    if (r.derived.problemCount > 10) lines.push(`… and ${fmt(r.derived.problemCount - 10)} more`);
  }
  return `${r.series}: INVALID: ${lines.join('\n')}`;
}

// ---------------------------------------------------------------- demos
const DEMOS = [
  { id: 'basic', title: 'Basic', text: 'One number per site, partition and type, in global order.', params: [] },
  { id: 'concurrent', title: 'Concurrent', text: 'Many clients at once: no number twice.', params: [['threads', 4], ['requestsPerThread', 25]] },
  { id: 'gaps', title: 'Gaps', text: 'Suppressed and released invoices leave gaps; new requests refill them.', params: [] },
  { id: 'load-test', title: 'Load test', text: 'A burst of requests: throughput, latency, consistency.', params: [['totalRequests', 1000], ['concurrentThreads', 10]] },
  { id: 'failover', title: 'Failover', text: 'Kill the etcd leader under load and measure the stall.', params: [['clients', 8]], needsCluster: true },
];

function buildDemos(cfg) {
  const cards = $('#demo-cards');
  cards.replaceChildren();
  for (const d of DEMOS) {
    if (d.needsCluster && !cfg.managedCluster) continue;
    const inputs = d.params.map(([name, value]) => el('input', { type: 'number', min: 1, value, name, id: `demo-${d.id}-${name}`, inputmode: 'numeric' }));
    const progress = el('progress', { max: 1, value: 0, hidden: true, 'aria-label': `${d.title} demo progress` });
    const button = el('button', { type: 'button', class: 'primary', id: `demo-${d.id}`, onclick: () => runDemo(d, inputs, button) }, `Run ${d.title.toLowerCase()} demo`);
    cards.append(
      el(
        'div',
        { class: 'demo-card', 'data-demo': d.id },
        el('h3', {}, d.title),
        el('p', {}, d.text),
        ...d.params.map(([name], i) => el('label', { for: `demo-${d.id}-${name}` }, name, inputs[i])),
        button,
        progress,
      ),
    );
  }
}

async function runDemo(d, inputs, button) {
  const q = new URLSearchParams();
  for (const i of inputs) q.set(i.name, i.value);
  const out = $('#demo-output');
  button.disabled = true;
  out.replaceChildren(el('p', {}, `Running the ${d.title.toLowerCase()} demo…`));
  try {
    const r = await api('POST', `/api/v1/demo/${d.id}${inputs.length ? `?${q}` : ''}`);
    out.replaceChildren(
      el('h3', {}, `${d.title} demo: ${r.verification.passed ? 'verified' : 'verification FAILED'} (${r.durationMs} ms)`),
      el('p', {}, r.description),
      el('ol', { class: 'steps' }, ...r.steps.map((s) => el('li', {}, el('strong', {}, s.title), ' ', describe(s.detail)))),
      el('h3', {}, 'Verification'),
      el('ul', { class: 'checks' }, ...r.verification.checks.map((c) => el('li', { class: c.passed ? 'check-ok' : 'check-bad' }, `${c.name}: ${c.detail}`))),
      el('h3', {}, 'Summary'),
      el('pre', {}, JSON.stringify(r.summary, null, 2)),
    );
  } catch (e) {
    out.replaceChildren(el('p', { class: 'result bad' }, e.message));
  } finally {
    button.disabled = false;
  }
}

/** `key: value` pairs of a demo step, nested values as compact JSON. */
function describe(detail) {
  return Object.entries(detail)
    .map(([k, v]) => `${k}: ${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`)
    .join(' · ');
}

function onDemoEvent(ev) {
  const card = document.querySelector(`.demo-card[data-demo="${CSS.escape(ev.demo)}"]`);
  const bar = card?.querySelector('progress');
  if (!bar) return;
  if (ev.phase === 'started') {
    bar.hidden = false;
    bar.removeAttribute('value');
  } else if (ev.phase === 'progress') {
    bar.max = ev.total;
    bar.value = ev.done;
  } else {
    bar.hidden = true;
  }
}

// ---------------------------------------------------------------- health
function renderHealth(s) {
  const rows = [];
  const alerts = [];
  rows.push(['store', s.store.healthy, `${s.store.kind}${s.store.path ? ` · ${s.store.path}` : ''}${s.store.error ? ` · ${s.store.error}` : ''}`]);
  if (!s.store.healthy) alerts.push(`The ${s.store.kind} store is not healthy: ${s.store.error ?? 'no answer'}. No numbers are handed out until it is back.`);
  if (s.store.replication) renderReplication(s.store.replication, rows, alerts);
  if (s.cluster) {
    for (const m of s.cluster.members) {
      const name = m.name ?? m.endpoint;
      rows.push([`etcd ${name}`, m.reachable, m.reachable ? `${m.isLeader ? 'LEADER · ' : ''}term ${m.raftTerm} · db ${(m.dbSizeBytes / 1048576).toFixed(1)} MB · ${m.endpoint}` : `unreachable · ${m.error ?? ''}`]);
      if (!m.reachable) alerts.push(`etcd member ${name} is down or unreachable.`);
    }
    if (!s.cluster.members.some((m) => m.isLeader)) alerts.push('etcd has no leader: allocation is stopped (fail closed).');
    for (const i of s.cluster.instances) rows.push([`seqd ${i.node}`, true, `${i.url} · pid ${i.pid} · since ${time(i.startedAt)}`]);
  } else {
    rows.push([`seqd ${s.node}`, true, 'this instance']);
  }
  $('#health-table tbody').replaceChildren(
    ...rows.map(([name, ok, detail]) => el('tr', {}, el('td', {}, name), el('td', { class: ok ? 'state-ok' : 'state-bad' }, ok ? 'up' : 'DOWN'), el('td', {}, detail))),
  );
  setAlerts(alerts);
}

// A PostgreSQL primary and its standbys, as the primary reports them.
function renderReplication(r, rows, alerts) {
  const sync = r.synchronousStandbyNames ? `synchronous_standby_names = ${r.synchronousStandbyNames}` : 'no synchronous standby';
  rows.push(['PostgreSQL primary', true, `${r.primary} · PostgreSQL ${r.serverVersion} · db ${(r.sizeBytes / 1048576).toFixed(1)} MB · ${sync}`]);
  for (const sb of r.standbys) {
    const streaming = sb.state === 'streaming';
    const lag = sb.lagBytes === null ? 'lag not visible (grant seqd pg_monitor)' : `lag ${formatBytes(sb.lagBytes)}${sb.replayLagSeconds === null ? '' : ` · ${(sb.replayLagSeconds * 1000).toFixed(0)} ms`}`;
    rows.push([`PostgreSQL standby ${sb.name}`, streaming || sb.state === null, `${sb.state ?? 'state not visible'} · ${sb.syncState ?? '?'} · ${lag}${sb.address ? ` · ${sb.address}` : ''}`]);
  }
  const syncStreaming = r.standbys.some((sb) => (sb.syncState === 'sync' || sb.syncState === 'quorum') && sb.state === 'streaming');
  if (r.synchronousStandbyNames && r.standbys.every((sb) => sb.state !== null) && !syncStreaming) {
    alerts.push('PostgreSQL has no synchronous standby streaming: commits wait for one, so allocation stalls until a standby is back.');
  }
}

function formatBytes(n) {
  return n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1048576).toFixed(1)} MB`;
}

function setAlerts(list) {
  const box = $('#alerts');
  const text = list.join('\n');
  if (box.dataset.text === text) return;
  box.dataset.text = text;
  box.replaceChildren(...list.map((a) => el('p', {}, a)));
}

// ---------------------------------------------------------------- stream
function connect() {
  const conn = $('#conn');
  const es = new EventSource('/api/v1/dashboard/stream');
  es.addEventListener('open', () => {
    conn.textContent = 'live';
    conn.className = 'badge badge-ok';
  });
  es.addEventListener('error', () => {
    conn.textContent = 'reconnecting…';
    conn.className = 'badge badge-bad';
  });
  es.addEventListener('hello', (ev) => {
    const cfg = JSON.parse(ev.data);
    const first = state.config === null;
    state.config = cfg;
    state.timeline = cfg.timeline;
    if (first) {
      buildGenerate(cfg);
      buildDemos(cfg);
    }
    state.lastAuditSeq = -1;
    state.gapKey = '';
  });
  es.addEventListener('snapshot', (ev) => renderSnapshot(JSON.parse(ev.data)));
  es.addEventListener('demo', (ev) => onDemoEvent(JSON.parse(ev.data)));
}

// ---------------------------------------------------------------- API key
// When the server enforces keys, the page asks for one and keeps it in a cookie for this tab's
// site (SameSite=Strict): the event stream cannot send headers, cookies it does send.
$('#key-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const key = $('#api-key').value.trim();
  const secure = location.protocol === 'https:' ? '; Secure' : '';
  document.cookie = `seqd_key=${encodeURIComponent(key)}; Path=/; SameSite=Strict${secure}`;
  location.reload();
});

async function start() {
  const res = await fetch('/api/v1/settings').catch(() => null);
  if (res && (res.status === 401 || res.status === 403)) {
    const conn = $('#conn');
    conn.textContent = res.status === 401 ? 'API key needed' : 'key lacks a role';
    conn.className = 'badge badge-bad';
    $('#key-form').hidden = false;
    $('#api-key').focus();
    return;
  }
  connect();
}

void start();
