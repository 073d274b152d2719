// SRDB web UI. Hand-written, no dependencies.
//
// Safety rule of this file: data from the database is only ever put on the
// page as text (textContent, text nodes, title/value properties). Nothing
// here uses innerHTML, outerHTML, insertAdjacentHTML or document.write.
'use strict';

const state = {
  info: null,
  tables: [],
  table: null,        // selected table name
  view: 'rows',
  columns: [],        // all columns of the selected table
  visible: new Set(), // visible column names
  page: 1,
  pages: 1,
  size: 50,
  order: '',
  desc: false,
  filters: [],        // [{field, op, values: [..]}], the applied ones
  lsmTimer: null,
  lsmScale: 'size',
  lastLSM: null,
  activity: null,
  lastEventId: 0,
};

// ---- DOM helpers ----

const $ = (sel) => document.querySelector(sel);

// h builds an element. props are set as properties (className, title,
// type, value, checked, onclick, dataset: {...}); children are nodes or
// strings, strings becoming text nodes.
function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'style') Object.assign(el.style, v);
    else el[k] = v;
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function clear(el) { el.replaceChildren(); return el; }

function fmtBytes(n) {
  if (n < 1024) return n + ' B';
  const u = ['KiB', 'MiB', 'GiB', 'TiB'];
  let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < u.length - 1);
  return n.toFixed(n < 10 ? 2 : 1) + ' ' + u[i];
}

function fmtNum(n) { return Number(n).toLocaleString('en-US'); }

// fmtTime gives an RFC 3339 time all nine fraction digits (the server's
// text drops trailing zeros), so a column of times lines up.
function fmtTime(s) {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(s || '');
  return m ? m[1] + '.' + (m[2] || '').padEnd(9, '0') + m[3] : s;
}

// printableASCII returns the bytes (a string of char codes 0-255) as text
// when every one is printable ASCII (tab, newline and carriage return
// included), else null.
function printableASCII(bin) {
  return bin.length > 0 && /^[\x20-\x7e\t\n\r]*$/.test(bin) ? bin : null;
}

// bytesCellText turns a Bytes grid cell ("0x" + hex of the first bytes)
// into its text when the bytes are printable ASCII, else null.
function bytesCellText(cell) {
  if (!/^0x(?:[0-9a-f]{2})+$/.test(cell)) return null;
  let bin = '';
  for (let i = 2; i < cell.length; i += 2) bin += String.fromCharCode(parseInt(cell.slice(i, i + 2), 16));
  return printableASCII(bin);
}

function fmtRate(n) { return n >= 100 ? fmtNum(Math.round(n)) : n.toFixed(1); }

async function api(path) {
  const res = await fetch(path, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
  let body = null;
  try { body = await res.json(); } catch (e) { /* not JSON */ }
  if (!res.ok) {
    throw new Error((body && body.error) || (res.status + ' ' + res.statusText));
  }
  return body;
}

// ---- theme ----

function applyTheme(t) {
  document.documentElement.setAttribute('data-theme', t);
  $('#theme-name').textContent = t;
}

function toggleTheme() {
  const t = document.documentElement.getAttribute('data-theme') === 'dark' ? 'light' : 'dark';
  try { localStorage.setItem('srdb-theme', t); } catch (e) { /* storage disabled */ }
  applyTheme(t);
}

// ---- tables sidebar ----

async function loadTables() {
  state.tables = await api('/api/tables');
  renderTables();
}

function renderTables() {
  const ul = clear($('#tables'));
  for (const t of state.tables) {
    const li = h('li', {
      className: 'table-item' + (t.name === state.table ? ' selected' : ''),
      dataset: { table: t.name },
      onclick: () => selectTable(t.name),
      tabIndex: 0,
      onkeydown: (e) => { if (e.key === 'Enter') selectTable(t.name); },
    },
    h('div', { className: 'table-name' }, t.name),
    t.error ? h('div', { className: 'error small' }, t.error) :
      h('div', { className: 'table-meta' },
        h('span', { className: 'rows-count', title: 'live rows' }, fmtNum(t.rows) + ' rows'),
        h('span', { title: 'SST bytes on disk' }, fmtBytes(t.disk_bytes)),
        h('span', { title: 'levels with files / SST files' }, t.files + ' files')),
    h('div', { className: 'chips' }, t.indexes.map((ix) => ((t.unique || []).includes(ix)
      ? h('span', { className: 'chip', title: 'unique index: no two rows hold the same key' }, ix + ' (unique)')
      : h('span', { className: 'chip', title: 'secondary index' }, ix)))));
    ul.append(li);
  }
}

let selectRequest = 0;

async function selectTable(name) {
  const my = ++selectRequest;
  rowsRequest++; // an answer still coming for the previous table is dropped
  state.table = name;
  state.page = 1;
  state.pages = 1;
  state.filters = [];
  state.order = '';
  state.desc = false;
  state.lastLSM = null;
  state.columns = [];  // until this table's schema is in, loadRows waits
  state.visible = new Set();
  renderTables();
  closeDetail();
  $('#empty').hidden = true;
  $('#table-view').hidden = false;
  $('#table-title').textContent = name;
  $('#rows-error').hidden = true;
  resetGrid('Loading…');
  let t;
  try {
    t = await api('/api/tables/' + encodeURIComponent(name));
  } catch (e) {
    if (my !== selectRequest) return;
    resetGrid('Cannot load the table.');
    $('#rows-error').textContent = e.message;
    $('#rows-error').hidden = false;
    return;
  }
  if (my !== selectRequest) return;
  state.columns = t.fields;
  state.visible = new Set(t.fields.map((f) => f.name));
  renderSchema(t);
  renderColumnsMenu();
  renderOrderSelect();
  clear($('#filter-list'));
  showView(state.view);
}

// ---- views ----

function showView(v) {
  state.view = v;
  for (const b of document.querySelectorAll('.tab')) b.classList.toggle('active', b.dataset.view === v);
  for (const s of document.querySelectorAll('.view')) s.hidden = s.id !== 'view-' + v;
  if (state.lsmTimer) { clearInterval(state.lsmTimer); state.lsmTimer = null; }
  if (v === 'rows') loadRows();
  if (v === 'lsm') {
    loadLSM();
    state.lsmTimer = setInterval(loadLSM, 1000);
  }
}

function renderSchema(t) {
  const tb = clear($('#schema tbody'));
  for (const f of t.fields) {
    tb.append(h('tr', { className: f.system ? 'system' : '' },
      h('td', { className: 'mono' }, f.name),
      h('td', null, h('span', { className: 'type' }, f.type)),
      h('td', null, f.nullable ? 'yes' : 'no'),
      h('td', null, f.indexed ? h('span', { className: 'chip' }, f.unique ? 'indexed, unique' : 'indexed') : ''),
      h('td', { className: 'comment' }, f.comment || '')));
  }
  renderConsumers(t.consumers || []);
}

// renderConsumers lists the table's consumer groups with their committed
// position and lag.
function renderConsumers(groups) {
  const tb = clear($('#consumers tbody'));
  for (const c of groups) {
    tb.append(h('tr', { dataset: { group: c.group } },
      h('td', { className: 'mono' }, c.group),
      h('td', { className: 'num' }, fmtNum(c.position)),
      h('td', { className: 'num' + (c.lag > 0 ? ' lagging' : '') }, fmtNum(c.lag))));
  }
  $('#consumers').hidden = groups.length === 0;
  $('#consumers-empty').hidden = groups.length > 0;
}

// ---- row browser ----

function renderColumnsMenu() {
  const m = clear($('#columns-menu'));
  for (const c of state.columns) {
    const cb = h('input', { type: 'checkbox', checked: state.visible.has(c.name), disabled: !!c.system });
    cb.addEventListener('change', () => {
      if (cb.checked) state.visible.add(c.name); else state.visible.delete(c.name);
      loadRows();
    });
    m.append(h('label', { className: 'menu-item' }, cb, ' ', c.name, ' ', h('span', { className: 'type' }, c.type)));
  }
}

function renderOrderSelect() {
  const s = clear($('#order-field'));
  s.append(h('option', { value: '' }, '(access path order)'));
  for (const c of state.columns) {
    s.append(h('option', { value: c.name }, c.name + (c.indexed ? ' (indexed)' : '')));
  }
  s.value = state.order;
  $('#order-dir').value = state.desc ? 'desc' : 'asc';
}

function operators() { return state.info ? state.info.operators : []; }

function addFilterRow(f) {
  f = f || { field: state.columns[0].name, op: 'eq', values: [''] };
  const fieldSel = h('select', { className: 'f-field' }, state.columns.map((c) => h('option', { value: c.name }, c.name)));
  fieldSel.value = f.field;
  const opSel = h('select', { className: 'f-op' }, operators().map((o) => h('option', { value: o.op }, o.label)));
  opSel.value = f.op;
  const vals = h('span', { className: 'f-values' });
  const row = h('div', { className: 'filter-row' }, fieldSel, opSel, vals,
    h('button', { type: 'button', className: 'f-remove', title: 'remove', onclick: () => row.remove() }, '✕'));
  function renderValues(values) {
    clear(vals);
    const op = operators().find((o) => o.op === opSel.value);
    const n = op ? op.args : 1;
    const col = state.columns.find((c) => c.name === fieldSel.value);
    const hint = col ? col.type : '';
    if (n === 1) vals.append(h('input', { className: 'f-value', value: values[0] || '', placeholder: hint }));
    if (n === 2) {
      vals.append(h('input', { className: 'f-value', value: values[0] || '', placeholder: 'from (' + hint + ')' }), ' and ',
        h('input', { className: 'f-value', value: values[1] || '', placeholder: 'to' }));
    }
    if (n === -1) vals.append(h('input', { className: 'f-value f-list', value: values.join(', '), placeholder: 'a, b, c (' + hint + ')' }));
    for (const i of vals.querySelectorAll('input')) {
      i.addEventListener('keydown', (e) => { if (e.key === 'Enter') applyFilters(); });
    }
  }
  opSel.addEventListener('change', () => renderValues(readValues(row)));
  fieldSel.addEventListener('change', () => renderValues(readValues(row)));
  renderValues(f.values || []);
  $('#filter-list').append(row);
  return row;
}

function readValues(row) {
  const inputs = [...row.querySelectorAll('.f-value')];
  if (inputs.length === 1 && inputs[0].classList.contains('f-list')) {
    return inputs[0].value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  }
  return inputs.map((i) => i.value);
}

function applyFilters() {
  state.filters = [...document.querySelectorAll('#filter-list .filter-row')].map((row) => ({
    field: row.querySelector('.f-field').value,
    op: row.querySelector('.f-op').value,
    values: readValues(row),
  }));
  state.page = 1;
  loadRows();
}

function whereParam() {
  return JSON.stringify(state.filters.map((f) => {
    const op = operators().find((o) => o.op === f.op);
    const n = op ? op.args : 1;
    if (n === 0) return { field: f.field, op: f.op };
    if (n === 1) return { field: f.field, op: f.op, value: f.values[0] || '' };
    return { field: f.field, op: f.op, values: f.values };
  }));
}

let rowsRequest = 0;

async function loadRows() {
  if (!state.table || !state.columns.length) return;
  const my = ++rowsRequest;
  const p = new URLSearchParams({ page: state.page, size: state.size });
  const hidden = state.columns.some((c) => !state.visible.has(c.name));
  if (hidden) p.set('select', state.columns.filter((c) => !c.system && state.visible.has(c.name)).map((c) => c.name).join(','));
  if (state.order) { p.set('order', state.order); if (state.desc) p.set('desc', '1'); }
  if (state.filters.length) p.set('where', whereParam());
  const err = $('#rows-error');
  let res;
  try {
    res = await api('/api/tables/' + encodeURIComponent(state.table) + '/rows?' + p.toString());
  } catch (e) {
    if (my !== rowsRequest) return;
    // The rows on screen are not the answer to this query: take them off.
    state.pages = 1;
    resetGrid('No rows: the query failed (see the error above).');
    err.textContent = e.message;
    err.hidden = false;
    return;
  }
  if (my !== rowsRequest) return;
  err.hidden = true;
  state.pages = Math.max(1, res.pages);
  renderGrid(res);
}

// resetGrid empties the grid, the pager and the plan, leaving msg in the
// table: shown while a table loads and after a failed query, so no rows of
// an earlier query stay on screen as if they answered this one.
function resetGrid(msg) {
  clear($('#grid thead'));
  clear($('#grid tbody')).append(h('tr', { className: 'grid-message' }, h('td', { className: 'muted' }, msg)));
  $('#page-info').textContent = '';
  $('#rows-status').textContent = '';
  $('#plan').textContent = '';
  for (const id of ['#pager-first', '#pager-prev', '#pager-next', '#pager-last']) $(id).disabled = true;
}

// gridCell renders one cell: NULL marked, times with all fraction digits,
// Bytes as text when printable ASCII (the hex stays in the title).
function gridCell(cell, col) {
  if (cell === null) return h('td', { className: 'null' }, 'NULL');
  if (col.type === 'time') return h('td', { className: 'type-time' }, fmtTime(cell));
  if (col.type === 'bytes') {
    const text = bytesCellText(cell);
    if (text !== null) {
      return h('td', { className: 'type-bytes bytes-text', title: 'ASCII text of the bytes; hex: ' + cell }, text);
    }
  }
  return h('td', { className: 'type-' + col.type }, cell);
}

function renderGrid(res) {
  const thead = clear($('#grid thead'));
  const tr = h('tr');
  for (const c of res.columns) {
    const arrow = state.order === c.name ? (state.desc ? ' ↓' : ' ↑') : '';
    tr.append(h('th', {
      title: c.type + (c.indexed ? ', indexed' : '') + (c.comment ? ' — ' + c.comment : ''),
      onclick: () => {
        if (state.order === c.name) state.desc = !state.desc; else { state.order = c.name; state.desc = false; }
        renderOrderSelect();
        state.page = 1;
        loadRows();
      },
    }, c.name + arrow));
  }
  thead.append(tr);
  const tbody = clear($('#grid tbody'));
  for (const r of res.rows) {
    const row = h('tr', { dataset: { seq: String(r.seq) }, onclick: () => openDetail(r.seq, row) });
    r.cells.forEach((cell, i) => row.append(gridCell(cell, res.columns[i])));
    tbody.append(row);
  }
  if (res.rows.length === 0) {
    tbody.append(h('tr', null, h('td', { colSpan: res.columns.length, className: 'muted' }, 'No rows match.')));
  }
  $('#page-info').textContent = 'Page ' + fmtNum(res.page) + ' of ' + fmtNum(state.pages);
  $('#rows-status').textContent = fmtNum(res.total) + ' matching rows · ' + res.took_ms.toFixed(1) + ' ms';
  $('#plan').textContent = res.plan;
  $('#pager-prev').disabled = $('#pager-first').disabled = res.page <= 1;
  $('#pager-next').disabled = $('#pager-last').disabled = res.page >= state.pages;
}

function goPage(p) {
  state.page = Math.min(Math.max(1, p), state.pages);
  loadRows();
}

// ---- row detail ----

async function openDetail(seq, tr) {
  for (const r of document.querySelectorAll('#grid tr.selected')) r.classList.remove('selected');
  if (tr) tr.classList.add('selected');
  const panel = $('#detail');
  const body = clear($('#detail-body'));
  $('#detail-title').textContent = state.table + ' · _seq ' + seq;
  panel.hidden = false;
  let d;
  try {
    d = await api('/api/tables/' + encodeURIComponent(state.table) + '/rows/' + encodeURIComponent(seq));
  } catch (e) {
    body.append(h('div', { className: 'error' }, e.message));
    return;
  }
  const dl = h('dl', { id: 'detail-fields', className: 'fields' });
  const item = (name, type, ...value) => {
    dl.append(h('dt', null, h('span', { className: 'mono' }, name), ' ', h('span', { className: 'type' }, type)));
    dl.append(h('dd', { dataset: { field: name } }, ...value));
  };
  item('_seq', 'int64', String(d.seq));
  item('_time', 'time', fmtTime(d.time));
  for (const f of d.fields) {
    if (f.null) { item(f.name, f.type, h('span', { className: 'null' }, 'NULL')); continue; }
    switch (f.type) {
      case 'bytes': {
        let text = null;
        try { text = printableASCII(atob(f.base64 || '')); } catch (e) { /* not base64 */ }
        item(f.name, f.type,
          h('div', { className: 'muted' }, f.length + ' bytes' + (f.truncated ? ' (cut)' : '')),
          text !== null ? [h('div', { className: 'sub' }, 'text (ASCII)'), h('pre', { className: 'text' }, text)] : null,
          h('div', { className: 'sub' }, 'hex'), h('pre', { className: 'hex' }, f.hex),
          h('div', { className: 'sub' }, 'base64'), h('pre', { className: 'b64' }, f.base64));
        break;
      }
      case 'object':
      case 'array':
        item(f.name, f.type, h('pre', { className: 'json' }, f.text));
        break;
      case 'time':
        item(f.name, f.type, h('span', { className: 'value type-time' }, fmtTime(f.text)));
        break;
      default:
        item(f.name, f.type, h('span', { className: 'value type-' + f.type }, f.text),
          f.truncated ? h('span', { className: 'muted' }, ' (cut)') : null);
    }
  }
  body.append(dl);
}

function closeDetail() {
  $('#detail').hidden = true;
  for (const r of document.querySelectorAll('#grid tr.selected')) r.classList.remove('selected');
}

// ---- LSM view ----

async function loadLSM() {
  if (!state.table || state.view !== 'lsm') return;
  const name = state.table;
  let d;
  try {
    d = await api('/api/tables/' + encodeURIComponent(name) + '/lsm');
  } catch (e) {
    return;
  }
  if (name !== state.table || state.view !== 'lsm') return;
  state.lastLSM = d;
  renderLSM(d);
}

function card(label, value, extra) {
  return h('div', { className: 'card' }, h('div', { className: 'card-label' }, label),
    h('div', { className: 'card-value' }, value), extra ? h('div', { className: 'card-extra' }, extra) : null);
}

function bar(frac, cls) {
  const outer = h('div', { className: 'bar ' + (cls || '') });
  outer.append(h('div', { className: 'bar-fill', style: { width: Math.min(100, Math.max(0, frac * 100)).toFixed(1) + '%' } }));
  return outer;
}

// retentionCard shows the table's MaxAge / MaxBytes / Compression and the SSTs range
// deletes and retention dropped whole.
function retentionCard(r) {
  if (!r) return null;
  const rules = [];
  if (r.max_age) rules.push('max age ' + r.max_age);
  if (r.max_bytes > 0) rules.push('max ' + fmtBytes(r.max_bytes));
  if (r.compression && r.compression !== 'default') rules.push('compression ' + r.compression);
  return card('Retention', rules.length ? rules.join(' · ') : 'keep all',
    fmtNum(r.dropped_files) + ' SSTs dropped (' + fmtBytes(r.dropped_bytes) + ') · ' + fmtNum(r.deletes) + ' rows deleted');
}

function renderLSM(d) {
  const c = d.compaction;
  clear($('#lsm-cards')).append(
    card('Rows', fmtNum(d.rows), 'last _seq ' + fmtNum(d.last_seq)),
    card('On disk', fmtBytes(d.disk_bytes), d.levels.reduce((n, l) => n + l.files.length, 0) + ' SST files'),
    card('Memtable', fmtBytes(d.memtable_bytes) + ' / ' + fmtBytes(d.memtable_limit),
      bar(d.memtable_bytes / d.memtable_limit, 'mem')),
    card('Immutable', String(d.immutable), fmtBytes(d.immutable_bytes) + ' waiting for flush'),
    card('Flushes', fmtNum(d.flushes), fmtBytes(d.flushed_bytes) + ' flushed'),
    card('Compactions', fmtNum(c.count), fmtNum(c.moves) + ' moves · write amp ' + c.write_amp.toFixed(2)),
    card('Write stalls', fmtNum(c.write_stalls), c.stalled ? 'stalled now' : (c.stall_ms + ' ms total')),
    retentionCard(d.retention));
  const run = $('#lsm-running');
  if (c.running) {
    run.hidden = false;
    clear(run).append(h('strong', null, 'Compacting: '), c.running.text);
  } else {
    run.hidden = true;
  }
  if (c.last_error) run.append(h('div', { className: 'error' }, 'last error: ' + c.last_error));

  // The tree: one row per level, its width growing with the level's bytes
  // (square-root scale, so small upper levels stay visible), centred, so
  // the pyramid shape shows at a glance; each file is a block in it.
  const tree = clear($('#lsm-tree'));
  const maxBytes = Math.max(1, ...d.levels.map((l) => Math.max(l.bytes, l.max_bytes ? Math.min(l.max_bytes, l.bytes * 4) : 0)));
  const memWidth = Math.sqrt(Math.max(d.memtable_limit, 1) / maxBytes);
  tree.append(h('div', { className: 'level mem-level' },
    h('div', { className: 'level-label' }, 'memtable'),
    h('div', { className: 'level-track' },
      h('div', { className: 'level-bar', style: { width: Math.max(6, Math.min(100, memWidth * 100)).toFixed(1) + '%' } },
        h('div', { className: 'file mem', style: { flexGrow: String(Math.max(0.02, d.memtable_bytes / d.memtable_limit)) }, title: 'active memtable: ' + fmtBytes(d.memtable_bytes) }),
        h('div', { className: 'file mem-free', style: { flexGrow: String(Math.max(0, 1 - d.memtable_bytes / d.memtable_limit)) } }),
        Array.from({ length: d.immutable }, () => h('div', { className: 'file imm', style: { flexGrow: '1' }, title: 'immutable memtable waiting for flush' })))),
    h('div', { className: 'level-info' }, fmtBytes(d.memtable_bytes) + ' + ' + d.immutable + ' imm.')));
  const lastSeq = Math.max(1, d.last_seq);
  for (const l of d.levels) {
    const row = h('div', { className: 'level' + (l.files.length > 40 ? ' dense' : ''), dataset: { level: String(l.level), files: String(l.files.length) } });
    const frac = l.bytes > 0 ? Math.sqrt(l.bytes / maxBytes) : 0;
    const track = h('div', { className: 'level-track' });
    if (state.lsmScale === 'size') {
      const lb = h('div', { className: 'level-bar', style: { width: (l.files.length ? Math.max(4, frac * 100) : 0).toFixed(1) + '%' } });
      for (const f of l.files) lb.append(fileBlock(l, f, { flexGrow: String(Math.max(f.bytes, 1)) }));
      track.append(lb);
    } else {
      // Placed by seq range. Files whose boxes would overlap (L0 files, which
      // each hold updates and deletes of old seqs, or a neighbour widened to
      // the minimum width) go to separate lanes stacked in the bar, so each
      // box has a height and can be clicked.
      const boxes = l.files.map((f) => ({
        f,
        left: Math.min(99.6, (f.min_seq - 1) / lastSeq * 100),
        width: Math.max(0.4, (f.max_seq - f.min_seq + 1) / lastSeq * 100),
      })).sort((a, b) => a.left - b.left);
      const laneEnds = [];
      for (const b of boxes) {
        b.lane = laneEnds.findIndex((end) => end <= b.left + 1e-6);
        if (b.lane < 0) { b.lane = laneEnds.length; laneEnds.push(0); }
        laneEnds[b.lane] = b.left + b.width;
      }
      const lanes = Math.max(1, laneEnds.length);
      const lb = h('div', { className: 'level-bar seq-bar', style: { width: '100%', height: Math.max(30, lanes * 10) + 'px' } });
      for (const b of boxes) {
        lb.append(fileBlock(l, b.f, {
          position: 'absolute', left: b.left.toFixed(2) + '%', width: b.width.toFixed(2) + '%',
          top: (b.lane / lanes * 100).toFixed(2) + '%', height: (100 / lanes).toFixed(2) + '%',
        }));
      }
      track.append(lb);
    }
    const score = l.level === 0 || l.max_bytes ? ' · score ' + l.score.toFixed(2) : '';
    row.append(h('div', { className: 'level-label' }, 'L' + l.level),
      track,
      h('div', { className: 'level-info' + (l.score >= 1 ? ' due' : '') },
        l.files.length + ' files · ' + fmtBytes(l.bytes) + (l.max_bytes ? ' / ' + fmtBytes(l.max_bytes) : '') + score));
    tree.append(row);
  }

  const tb = clear($('#lsm-files tbody'));
  for (const l of d.levels) {
    for (const f of l.files) {
      tb.append(h('tr', { className: f.compacting ? 'compacting' : '', dataset: { file: String(f.num) } },
        h('td', null, 'L' + l.level),
        h('td', { className: 'mono' }, String(f.num).padStart(6, '0') + '.sst'),
        h('td', null, fmtBytes(f.bytes)),
        h('td', { className: 'mono' }, fmtNum(f.min_seq) + ' – ' + fmtNum(f.max_seq)),
        h('td', { className: 'mono small time-range' },
          h('div', null, (f.min_time ? fmtTime(f.min_time) : '—') + ' –'), h('div', null, f.max_time ? fmtTime(f.max_time) : '—')),
        h('td', null, fmtNum(f.entries - f.tombstones)),
        h('td', null, fmtNum(f.tombstones))));
    }
  }
}

function fileDescription(l, f) {
  return 'L' + l.level + ' file ' + String(f.num).padStart(6, '0') + '.sst · ' + fmtBytes(f.bytes) +
    ' · seq ' + fmtNum(f.min_seq) + '–' + fmtNum(f.max_seq) + ' · ' + fmtNum(f.entries - f.tombstones) + ' rows, ' +
    fmtNum(f.tombstones) + ' tombstones · time ' + (f.min_time ? fmtTime(f.min_time) : '—') + ' – ' + (f.max_time ? fmtTime(f.max_time) : '—') +
    (f.compacting ? ' · being compacted' : '');
}

function fileBlock(l, f, style) {
  return h('div', {
    className: 'file' + (f.compacting ? ' compacting' : '') + (f.tombstones > 0 ? ' has-tomb' : ''),
    style,
    title: fileDescription(l, f),
    dataset: { file: String(f.num) },
    onclick: () => { $('#lsm-file').textContent = fileDescription(l, f); },
  });
}

// ---- live activity ----

function connectEvents() {
  const live = $('#live');
  if (!window.EventSource) { pollActivity(); return; }
  const es = new EventSource('/api/events');
  es.addEventListener('activity', (e) => {
    live.classList.add('on');
    try { renderActivity(JSON.parse(e.data)); } catch (err) { /* ignore a bad frame */ }
  });
  es.onerror = () => { live.classList.remove('on'); };
}

async function pollActivity() {
  try { renderActivity(await api('/api/activity')); } catch (e) { /* retry */ }
  setTimeout(pollActivity, 1000);
}

function renderActivity(a) {
  state.activity = a;
  // Every table is listed, idle ones too (dimmed, marked "idle"): a table
  // does not vanish from the panel when its writes stop.
  const box = clear($('#activity-tables'));
  for (const t of a.tables) {
    const idle = t.write_rate === 0 && t.read_rate === 0 && !t.running;
    box.append(h('div', {
      className: 'act-table' + (t.name === state.table ? ' selected' : '') + (idle ? ' idle' : ''),
      dataset: { table: t.name },
    },
      h('div', { className: 'act-name' }, t.name, idle ? h('span', { className: 'chip' }, 'idle') : null,
        t.running ? h('span', { className: 'chip busy' }, 'compacting') : null,
        t.stalled ? h('span', { className: 'chip warn' }, 'stalled') : null),
      h('div', { className: 'act-line' }, 'memtable ' + fmtBytes(t.memtable_bytes) + ' / ' + fmtBytes(t.memtable_limit) +
        (t.immutable ? ' + ' + t.immutable + ' imm.' : '')),
      bar(t.memtable_bytes / t.memtable_limit, 'mem'),
      h('div', { className: 'act-line' },
        h('span', { className: 'rate', title: 'inserts+updates+deletes per second' }, 'writes ' + fmtRate(t.write_rate) + '/s'),
        ' · ',
        h('span', { className: 'rate', title: 'Gets and UI rows read per second' }, 'reads ' + fmtRate(t.read_rate) + '/s')),
      h('div', { className: 'act-line muted' }, 'levels ' + t.level_files.map((n, i) => 'L' + i + ':' + n).filter((s) => !s.endsWith(':0')).join(' ')),
      t.running ? h('div', { className: 'act-line busy-text' }, t.running) : null));
  }
  const ol = $('#events');
  const newest = a.events.length ? a.events[a.events.length - 1].id : 0;
  if (newest !== state.lastEventId) {
    state.lastEventId = newest;
    clear(ol);
    for (const ev of a.events.slice(-40).reverse()) {
      ol.append(h('li', { className: 'ev ev-' + ev.kind },
        h('span', { className: 'ev-time mono' }, ev.time.slice(11, 23)), ' ',
        h('span', { className: 'ev-table' }, ev.table), ' ', ev.text));
    }
  }
  // keep the sidebar counts fresh
  for (const t of a.tables) {
    const li = document.querySelector('#tables li[data-table="' + CSS.escape(t.name) + '"] .rows-count');
    if (li) li.textContent = fmtNum(t.rows) + ' rows';
  }
}

// ---- start ----

async function start() {
  $('#theme-name').textContent = document.documentElement.getAttribute('data-theme');
  $('#theme-toggle').addEventListener('click', toggleTheme);
  for (const b of document.querySelectorAll('.tab')) b.addEventListener('click', () => showView(b.dataset.view));
  $('#columns-button').addEventListener('click', () => { $('#columns-menu').hidden = !$('#columns-menu').hidden; });
  $('#order-field').addEventListener('change', (e) => { state.order = e.target.value; state.page = 1; loadRows(); });
  $('#order-dir').addEventListener('change', (e) => { state.desc = e.target.value === 'desc'; state.page = 1; loadRows(); });
  $('#page-size').addEventListener('change', (e) => { state.size = Number(e.target.value); state.page = 1; loadRows(); });
  $('#refresh').addEventListener('click', () => loadRows());
  $('#filter-add').addEventListener('click', () => addFilterRow());
  $('#filter-apply').addEventListener('click', applyFilters);
  $('#filter-clear').addEventListener('click', () => { clear($('#filter-list')); applyFilters(); });
  $('#pager-first').addEventListener('click', () => goPage(1));
  $('#pager-prev').addEventListener('click', () => goPage(state.page - 1));
  $('#pager-next').addEventListener('click', () => goPage(state.page + 1));
  $('#pager-last').addEventListener('click', () => goPage(state.pages));
  $('#detail-close').addEventListener('click', closeDetail);
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape') closeDetail(); });
  for (const r of document.querySelectorAll('input[name="lsm-scale"]')) {
    r.addEventListener('change', () => { state.lsmScale = r.value; if (state.lastLSM) renderLSM(state.lastLSM); });
  }
  try {
    state.info = await api('/api/info');
    $('#db-dir').textContent = state.info.dir;
    state.size = Number($('#page-size').value);
    await loadTables();
  } catch (e) {
    $('#empty').textContent = 'Cannot load the database: ' + e.message;
  }
  connectEvents();
  setInterval(() => { loadTables().catch(() => {}); }, 5000);
}

start();
