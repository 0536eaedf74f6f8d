// The web console: sign-in, then the files view. Everything the server sends (names, messages)
// goes into the page as text (textContent, text nodes), never as HTML.

const state = { csrf: null, path: [], entries: [], sort: { key: 'name', dir: 1 }, selected: new Set() };
const $ = (id) => document.getElementById(id);

/** An element with text and attributes; children are nodes or strings (text nodes). */
function el(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'class') element.className = value;
    else if (key === 'text') element.textContent = value;
    else element.setAttribute(key, value);
  }
  element.append(...children);
  return element;
}

/** A request of the console: marked as such (no password dialog on 401), with the CSRF token on writes. */
function api(method, url, { body, headers = {} } = {}) {
  const fields = { 'X-MultiStatus-Console': '1', Accept: 'application/json', ...headers };
  if (state.csrf && method !== 'GET' && method !== 'HEAD') fields['X-CSRF-Token'] = state.csrf;
  return fetch(url, { method, headers: fields, body, credentials: 'same-origin' });
}

const encodePath = (names) => names.map(encodeURIComponent).join('/');

// MARK: Session

async function start() {
  const response = await api('GET', '/ui/session');
  if (response.ok) {
    signedIn(await response.json());
  } else {
    show('sign-in');
  }
}

function signedIn(session) {
  state.signedIn = true;
  state.csrf = session.csrf;
  $('who').textContent = session.name ? `${session.name} (${session.permission})` : '';
  $('sign-out').hidden = !session.accounts;
  $('views').hidden = false;
  route();
}

function show(id) {
  for (const section of document.querySelectorAll('main > section')) section.hidden = section.id !== id;
  for (const link of document.querySelectorAll('#views a')) {
    if (link.id === 'view-' + id) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (id !== 'dashboard') stopDashboard();
}

/** The view the address names: #files (the default), #dashboard or #records. */
function route() {
  if (!state.signedIn) return;
  const view = location.hash.slice(1) || 'files';
  if (view === 'dashboard') {
    show('dashboard');
    startDashboard();
  } else if (view === 'records') {
    show('records');
    loadTables();
  } else {
    show('files');
    loadFolder(state.path);
  }
}

window.addEventListener('hashchange', route);

$('sign-in-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('sign-in-error').textContent = '';
  const body = JSON.stringify({ name: $('sign-in-name').value, password: $('sign-in-password').value });
  const response = await api('POST', '/ui/session', { body, headers: { 'Content-Type': 'application/json' } });
  $('sign-in-password').value = '';
  if (response.ok) {
    signedIn(await response.json());
  } else {
    $('sign-in-error').textContent = (await problemText(response)) || 'Sign-in failed';
  }
});

$('sign-out').addEventListener('click', async () => {
  await api('DELETE', '/ui/session');
  state.signedIn = false;
  state.csrf = null;
  $('who').textContent = '';
  $('sign-out').hidden = true;
  $('views').hidden = true;
  show('sign-in');
});

async function problemText(response) {
  try {
    const problem = await response.json();
    return problem.detail || problem.title || `${response.status}`;
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

// MARK: Folder

async function loadFolder(path) {
  const response = await api('GET', '/files/' + encodePath(path) + (path.length ? '/' : ''));
  if (response.status === 401) return show('sign-in');
  if (!response.ok) {
    $('outcome-summary').textContent = await problemText(response);
    return;
  }
  const listing = await response.json();
  state.path = path;
  state.entries = listing.entries;
  state.selected.clear();
  renderBreadcrumbs();
  renderListing();
}

function renderBreadcrumbs() {
  const crumbs = $('breadcrumbs');
  crumbs.replaceChildren();
  const top = el('button', { type: 'button', text: 'Files' });
  top.addEventListener('click', () => loadFolder([]));
  crumbs.append(top);
  state.path.forEach((name, index) => {
    const crumb = el('button', { type: 'button', text: name });
    crumb.addEventListener('click', () => loadFolder(state.path.slice(0, index + 1)));
    crumbs.append(' / ', crumb);
  });
}

function renderListing() {
  const { key, dir } = state.sort;
  const entries = [...state.entries].sort((a, b) => {
    if ((a.type === 'folder') !== (b.type === 'folder')) return a.type === 'folder' ? -1 : 1;
    const x = key === 'modified' ? Date.parse(a.modified) : a[key];
    const y = key === 'modified' ? Date.parse(b.modified) : b[key];
    return (x < y ? -1 : x > y ? 1 : 0) * dir;
  });
  const body = $('listing').querySelector('tbody');
  body.replaceChildren();
  for (const entry of entries) {
    const box = el('input', { type: 'checkbox', 'aria-label': 'Select ' + entry.name });
    box.checked = state.selected.has(entry.name);
    box.addEventListener('change', () => {
      if (box.checked) state.selected.add(entry.name);
      else state.selected.delete(entry.name);
      updateActions();
    });
    let name;
    if (entry.type === 'folder') {
      name = el('button', { type: 'button', class: 'folder', text: entry.name + '/' });
      name.addEventListener('click', () => loadFolder([...state.path, entry.name]));
    } else {
      name = el('span', { text: entry.name });
    }
    const modified = entry.modified ? new Date(entry.modified).toLocaleString() : '';
    body.append(
      el('tr', { 'data-name': entry.name },
        el('td', {}, box), el('td', { class: 'name' }, name),
        el('td', { class: 'size', text: entry.type === 'folder' ? '' : formatSize(entry.size) }),
        el('td', { text: modified })));
  }
  updateActions();
}

function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = -1;
  do { value /= 1024; unit += 1; } while (value >= 1024 && unit < units.length - 1);
  return `${value.toFixed(1)} ${units[unit]}`;
}

function updateActions() {
  const none = state.selected.size === 0;
  for (const id of ['delete', 'download', 'move', 'copy']) $(id).disabled = none;
  $('select-all').checked = !none && state.selected.size === state.entries.length;
}

for (const button of document.querySelectorAll('button.sort')) {
  button.addEventListener('click', () => {
    const key = button.dataset.sort;
    state.sort = { key, dir: state.sort.key === key ? -state.sort.dir : 1 };
    renderListing();
  });
}

$('select-all').addEventListener('change', () => {
  state.selected = new Set($('select-all').checked ? state.entries.map((entry) => entry.name) : []);
  renderListing();
});

// MARK: Outcomes

/** One row per item: its name, a progress bar, then its status and message. */
function outcomeRows(names) {
  const body = $('outcomes').querySelector('tbody');
  body.replaceChildren();
  $('outcome-summary').textContent = '';
  return names.map((name) => {
    const progress = el('progress', { max: '1', value: '0' });
    const row = el('tr', { class: 'pending' },
      el('td', { class: 'item', text: name }), el('td', {}, progress),
      el('td', { class: 'status', text: '…' }), el('td', { class: 'message' }));
    body.append(row);
    return { row, progress };
  });
}

/** Marks each row with its item of a 207 (or of an atomic refusal), in request order. */
function showOutcomes(rows, answer, listKey) {
  const items = answer[listKey] || [];
  items.forEach((item, index) => {
    const target = rows[item.index ?? index];
    if (!target) return;
    const ok = item.status >= 200 && item.status < 300;
    target.row.className = ok ? 'ok' : 'fail';
    target.progress.value = 1;
    target.row.querySelector('.status').textContent = `${item.status} ${item.message || ''}`;
    const detail = item.error ? (item.error.detail || item.error.title || '') : (item.location || '');
    target.row.querySelector('.message').textContent = detail;
  });
  const summary = answer.summary;
  if (summary) $('outcome-summary').textContent = `${summary.total} items: ${summary.succeeded} succeeded, ${summary.failed} failed`;
}

async function failWhole(rows, response) {
  const text = await problemText(response);
  for (const { row } of rows) {
    row.className = 'fail';
    row.querySelector('.status').textContent = `${response.status}`;
    row.querySelector('.message').textContent = text;
  }
  $('outcome-summary').textContent = text;
}

// MARK: Upload

/** Uploads files (each with the name it goes under) in one request; each row shows its progress, then its outcome. */
function upload(files) {
  if (files.length === 0) return;
  const rows = outcomeRows(files.map((file) => file.name));
  const form = new FormData();
  for (const file of files) form.append('files', file.file, file.name);
  const query = new URLSearchParams({ parents: 'true' });
  if (state.path.length) query.set('dir', state.path.join('/'));
  const request = new XMLHttpRequest();
  request.open('POST', '/upload?' + query);
  request.setRequestHeader('X-MultiStatus-Console', '1');
  request.setRequestHeader('Accept', 'application/json');
  if (state.csrf) request.setRequestHeader('X-CSRF-Token', state.csrf);
  // Bytes sent, spread over the files in order: each file's bar fills as its part goes out.
  const ends = [];
  files.reduce((total, file) => { ends.push(total + file.file.size); return total + file.file.size; }, 0);
  request.upload.addEventListener('progress', (event) => {
    files.forEach((file, index) => {
      const start = index === 0 ? 0 : ends[index - 1];
      const size = file.file.size || 1;
      rows[index].progress.value = Math.max(0, Math.min(1, (event.loaded - start) / size));
    });
  });
  request.addEventListener('load', async () => {
    const response = new Response(request.responseText, { status: request.status, headers: { 'Content-Type': request.getResponseHeader('Content-Type') || '' } });
    if (request.status === 207 || request.status === 200 || (request.getResponseHeader('Content-Type') || '').startsWith('application/json')) {
      try {
        showOutcomes(rows, await response.json(), 'files');
      } catch {
        await failWhole(rows, response);
      }
    } else {
      await failWhole(rows, response);
    }
    loadFolder(state.path);
  });
  request.addEventListener('error', () => { $('outcome-summary').textContent = 'The upload did not reach the server.'; });
  request.send(form);
}

$('picker').addEventListener('change', () => {
  upload([...$('picker').files].map((file) => ({ file, name: file.webkitRelativePath || file.name })));
  $('picker').value = '';
});

const drop = $('drop');
drop.addEventListener('dragover', (event) => { event.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', async (event) => {
  event.preventDefault();
  drop.classList.remove('over');
  const entries = [...event.dataTransfer.items].map((item) => item.webkitGetAsEntry && item.webkitGetAsEntry()).filter(Boolean);
  const files = [];
  for (const entry of entries) await collect(entry, '', files);
  upload(files);
});

/** The files of a dropped entry, folders walked, each named with its folders. */
async function collect(entry, prefix, files) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    files.push({ file, name: prefix + entry.name });
    return;
  }
  const reader = entry.createReader();
  for (;;) {
    const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) break;
    for (const child of batch) await collect(child, prefix + entry.name + '/', files);
  }
}

// MARK: Operations on the selection

async function operate(items, names) {
  const rows = outcomeRows(names);
  const response = await api('POST', '/file-operations', { body: JSON.stringify(items), headers: { 'Content-Type': 'application/json' } });
  const type = response.headers.get('Content-Type') || '';
  if (type.startsWith('application/json')) {
    showOutcomes(rows, await response.json(), 'operations');
  } else {
    await failWhole(rows, response);
  }
  loadFolder(state.path);
}

const selectedPaths = () => [...state.selected].map((name) => [...state.path, name].join('/'));

$('make-folder').addEventListener('click', () => {
  const name = $('new-folder').value.trim();
  if (!name) return;
  const path = [...state.path, name].join('/');
  $('new-folder').value = '';
  operate([{ op: 'mkdir', path }], [path]);
});

$('delete').addEventListener('click', () => {
  const paths = selectedPaths();
  operate(paths.map((path) => ({ op: 'delete', path, recursive: true })), paths);
});

for (const op of ['move', 'copy']) {
  $(op).addEventListener('click', () => {
    const target = $('target').value.replace(/^\/+|\/+$/g, '');
    const paths = selectedPaths();
    operate(paths.map((path) => ({ op, path, to: (target ? target + '/' : '') + path.split('/').pop(), recursive: true })), paths);
  });
}

$('download').addEventListener('click', async () => {
  const response = await api('POST', '/archives', { body: JSON.stringify({ paths: selectedPaths() }), headers: { 'Content-Type': 'application/json' } });
  if (!response.ok) {
    $('outcome-summary').textContent = await problemText(response);
    return;
  }
  const link = el('a', { href: URL.createObjectURL(await response.blob()), download: (state.path.at(-1) || 'files') + '.zip' });
  document.body.append(link);
  link.click();
  link.remove();
});

// MARK: Dashboard

/** Each source's recent latencies, drawn as a line; kept in the page only. */
const history = new Map();
let dashboardTimer = null;
const refreshMs = Number(new URLSearchParams(location.search).get('refresh')) || 3000;

function startDashboard() {
  if (dashboardTimer) return;
  refreshDashboard();
  dashboardTimer = setInterval(refreshDashboard, refreshMs);
}

function stopDashboard() {
  clearInterval(dashboardTimer);
  dashboardTimer = null;
}

async function refreshDashboard() {
  const [health, statuses] = await Promise.all([api('GET', '/health'), api('GET', '/check-statuses')]);
  if (statuses.status === 401) return show('sign-in');
  try {
    const overall = (await health.json()).status || 'unknown';
    $('health').className = 'health ' + overall;
    $('health').textContent = `Health: ${overall}`;
  } catch {
    $('health').textContent = `Health: ${health.status}`;
  }
  let answer;
  try {
    answer = await statuses.json();
  } catch {
    return;
  }
  const cards = $('cards');
  for (const item of answer.sources || []) {
    let card = [...cards.children].find((child) => child.dataset.source === item.source);
    if (!card) {
      card = el('div', { class: 'card' },
        el('h3', { text: item.source }), el('p', { class: 'status' }), el('p', { class: 'message' }),
        el('p', { class: 'latency' }), el('p', { class: 'checked' }), chart());
      card.dataset.source = item.source;
      cards.append(card);
    }
    const up = item.status >= 200 && item.status < 300;
    card.className = 'card ' + (up ? 'up' : 'down');
    card.querySelector('.status').textContent = `${item.status} ${item.message || ''}`;
    card.querySelector('.message').textContent = item.error ? (item.error.detail || '') : '';
    card.querySelector('.latency').textContent = item.latencyMs === undefined ? '' : `${item.latencyMs} ms`;
    card.querySelector('.checked').textContent = item.checkedAt ? 'checked ' + new Date(item.checkedAt).toLocaleTimeString() : '';
    const points = history.get(item.source) || [];
    points.push(item.latencyMs ?? 0);
    if (points.length > 40) points.shift();
    history.set(item.source, points);
    draw(card.querySelector('svg'), points);
  }
}

const svgNS = 'http://www.w3.org/2000/svg';

function chart() {
  const svg = document.createElementNS(svgNS, 'svg');
  svg.setAttribute('viewBox', '0 0 100 40');
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'latency history');
  svg.append(document.createElementNS(svgNS, 'polyline'));
  return svg;
}

/** The latencies as a line from left to right, the highest at the top. */
function draw(svg, points) {
  const top = Math.max(1, ...points);
  const step = points.length > 1 ? 100 / (points.length - 1) : 0;
  const coordinates = points.map((value, index) => `${(index * step).toFixed(1)},${(38 - (value / top) * 36).toFixed(1)}`);
  svg.querySelector('polyline').setAttribute('points', coordinates.join(' '));
}

// MARK: Records

const records = { tables: {}, header: [], answerRows: [] };

/** The served tables and their row schemas, from the server's OpenAPI document. */
async function loadTables() {
  const response = await api('GET', '/openapi.json');
  if (!response.ok) return;
  const document = await response.json();
  const schemas = document.components?.schemas || {};
  records.tables = { users: { path: '/users', schema: schemas.User || {} } };
  for (const path of Object.keys(document.paths || {})) {
    const match = /^\/tables\/([^/{}]+)$/.exec(path);
    if (!match) continue;
    const name = decodeURIComponent(match[1]);
    records.tables[name] = { path, schema: schemas['Row_' + name] || {} };
  }
  const select = $('record-table');
  const chosen = select.value;
  select.replaceChildren(...Object.keys(records.tables).sort().map((name) => el('option', { value: name, text: name })));
  if (chosen in records.tables) select.value = chosen;
}

/** RFC 4180 CSV: quoted fields may hold commas, doubled quotes and line breaks. */
function parseCSV(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') { field += '"'; i++; } else { quoted = false; }
      } else {
        field += c;
      }
    } else if (c === '"') {
      quoted = true;
    } else if (c === ',') {
      row.push(field); field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field); field = '';
      if (row.some((value) => value !== '') || row.length > 1) rows.push(row);
      row = [];
    } else {
      field += c;
    }
  }
  if (field !== '' || row.length) { row.push(field); rows.push(row); }
  return rows;
}

/** The CSV, or the grid's cells, as a header and rows of text. */
function gridFromCSV() {
  const rows = parseCSV($('record-csv').value);
  renderGrid(rows[0] || [], rows.slice(1));
}

function renderGrid(header, rows) {
  records.header = header;
  $('record-grid').querySelector('thead').replaceChildren(
    el('tr', {}, ...header.map((name) => el('th', { text: name })), el('th', { text: 'Outcome' })));
  const body = $('record-grid').querySelector('tbody');
  body.replaceChildren();
  for (const values of rows) addRow(values);
}

function addRow(values = []) {
  const cells = records.header.map((name, index) => {
    const input = el('input', { 'aria-label': name, 'data-column': name });
    input.value = values[index] ?? '';
    return el('td', {}, input);
  });
  $('record-grid').querySelector('tbody').append(el('tr', {}, ...cells, el('td', { class: 'outcome' })));
}

/** A cell's text as its column's JSON type (from the row schema): a number, a boolean, null when empty and allowed. */
function typed(text, property) {
  const types = [].concat(property?.type ?? ['string']);
  if (text === '' && types.includes('null')) return null;
  if (types.includes('integer') && /^-?\d+$/.test(text)) return Number(text);
  if (types.includes('number') && text.trim() !== '' && !Number.isNaN(Number(text)) && !types.includes('string')) return Number(text);
  if (types.includes('boolean') && /^(true|false)$/i.test(text)) return text.toLowerCase() === 'true';
  return text;
}

$('record-grid-load').addEventListener('click', gridFromCSV);
$('record-add-row').addEventListener('click', () => { if (records.header.length) addRow(); });

$('record-submit').addEventListener('click', async () => {
  if (records.header.length === 0) gridFromCSV();
  const table = records.tables[$('record-table').value];
  if (!table) return;
  const properties = table.schema.properties || {};
  const rows = [...$('record-grid').querySelectorAll('tbody tr')];
  const items = rows.map((row) => Object.fromEntries(
    [...row.querySelectorAll('input')].map((input) => [input.dataset.column, typed(input.value, properties[input.dataset.column])])));
  const headers = { 'Content-Type': 'application/json' };
  if ($('record-atomic').checked) headers.Prefer = 'atomic';
  const response = await api($('record-action').value, table.path, { body: JSON.stringify(items), headers });
  let answer;
  try {
    answer = await response.json();
  } catch {
    $('record-summary').textContent = `${response.status} ${response.statusText}`;
    return;
  }
  const list = Object.values(answer).find(Array.isArray);
  if (!list) {
    $('record-summary').textContent = answer.detail || answer.title || `${response.status}`;
    return;
  }
  list.forEach((item, index) => {
    const row = rows[item.index ?? index];
    if (!row) return;
    const ok = item.status >= 200 && item.status < 300;
    row.className = ok ? 'ok' : 'fail';
    for (const input of row.querySelectorAll('input')) input.classList.remove('bad-field');
    const column = item.error?.column;
    if (column) row.querySelector(`input[data-column="${CSS.escape(column)}"]`)?.classList.add('bad-field');
    const detail = item.error ? (item.error.detail || item.error.title || '') : '';
    row.querySelector('.outcome').textContent = `${item.status} ${item.message || ''}` + (detail ? ` — ${detail}` : '') + (column ? ` (field: ${column})` : '');
  });
  const summary = answer.summary;
  $('record-summary').textContent = summary
    ? `${summary.total} rows: ${summary.succeeded} succeeded, ${summary.failed} failed` + (response.status !== 207 && response.status !== 200 ? '; the atomic batch was refused, nothing applied' : '')
    : `${response.status}`;
});

start();
