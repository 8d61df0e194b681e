// Batch list: counts per status, filters, paging by page_token, refreshed every 3 s.
import { describeError, get, poll } from './api.js';
import { $, STATUSES, badge, batchLink, clearChildren, el, say } from './dom.js';
import { co2e, num, percentInt, timeElement } from './format.js';

const PAGE_SIZE = 20;
let stopPolling = null;
let token = null;     // page_token of the page shown (null = first page)
let previous = [];    // tokens of the pages before it, for "newer"
let nextToken = null;
let generation = 0;   // drops answers that arrive after the filters changed

for (let p = 10; p >= 1; p--) $('filter-priority').append(el('option', { value: String(p) }, String(p)));
$('filter-status').addEventListener('change', restart);
$('filter-priority').addEventListener('change', restart);
$('batches-filters').addEventListener('submit', (e) => e.preventDefault());
$('page-next').addEventListener('click', () => { previous.push(token); token = nextToken; refreshNow(); });
$('page-prev').addEventListener('click', () => { token = previous.pop() ?? null; refreshNow(); });

export function show() {
  refreshNow();
}

export function hide() {
  if (stopPolling) stopPolling();
  stopPolling = null;
  generation++;
}

function restart() { token = null; previous = []; refreshNow(); }

function refreshNow() {
  hide();
  stopPolling = poll(load, 3000);
}

function query() {
  const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if ($('filter-status').value) q.set('status', $('filter-status').value);
  if ($('filter-priority').value) q.set('priority', $('filter-priority').value);
  if (token) q.set('page_token', token);
  return q.toString();
}

async function load() {
  const gen = generation;
  const [list, counts] = await Promise.allSettled([get(`/batches?${query()}`), get('/batch-counts')]);
  if (gen !== generation) return;
  if (counts.status === 'fulfilled') renderCounts(counts.value);
  // One message when the server is down; a separate one when only the counts fail.
  say($('counts-error'), counts.status === 'rejected' && list.status === 'fulfilled'
    ? `Counts unavailable: ${describeError(counts.reason, { retrying: true })}` : '');
  if (list.status === 'rejected') {
    say($('batches-error'), `Could not load batches. ${describeError(list.reason, { retrying: true })}`);
    return;
  }
  say($('batches-error'), '');
  renderList(list.value);
  $('batches-updated').textContent = `Updated ${new Date().toLocaleTimeString()} · refreshes every 3 s`;
}

function renderCounts({ counts = {}, total }) {
  const list = $('status-counts');
  clearChildren(list);
  const item = (status, label, n) => {
    // A button per status: it doubles as a quick filter.
    const b = el('button', { type: 'button', className: 'count', dataset: { status },
      'aria-pressed': String($('filter-status').value === status) },
    label === 'all' ? el('span', { className: 'badge' }, 'all') : badge(status), ' ', el('strong', {}, num(n)));
    b.addEventListener('click', () => { $('filter-status').value = status; restart(); });
    list.append(el('li', {}, b));
  };
  item('', 'all', total);
  for (const s of STATUSES) item(s, s, counts[s] ?? 0);
  // The button of "all" has data-status=""; the spec's elements are the per-status ones.
  list.querySelector('[data-status=""]').removeAttribute('data-status');
}

function renderList({ batches = [], next_page_token: next }) {
  const body = $('batches-table').querySelector('tbody');
  clearChildren(body);
  for (const b of batches) {
    const pct = percentInt(b.progress_percent);
    const bar = el('div', { className: 'progress small', role: 'progressbar', 'aria-valuemin': '0',
      'aria-valuemax': '100', 'aria-valuenow': String(pct), 'aria-label': `${pct}%`, dataset: { status: b.status } }, el('div', { className: 'bar' }));
    bar.firstChild.style.width = `${pct}%`;
    body.append(el('tr', { dataset: { batchId: b.id } },
      el('td', { className: 'id' }, Object.assign(batchLink(b.id), { title: b.id })),
      el('td', { className: 'status' }, badge(b.status), b.cancel_requested && b.status === 'processing' ? ' (cancelling)' : ''),
      el('td', { className: 'num' }, String(b.priority)),
      el('td', {}, bar, ` ${pct}%`),
      el('td', { className: 'num' }, `${num(b.processed_activities)} / ${num(b.total_activities)}`),
      el('td', { className: 'num' }, co2e(b.total_emissions_kg_co2e)),
      el('td', {}, timeElement(b.created_at))));
  }
  nextToken = next || null;
  $('page-next').disabled = !nextToken;
  $('page-prev').disabled = previous.length === 0;
  $('page-number').textContent = previous.length || nextToken ? `Page ${previous.length + 1}` : '';
  $('batches-table').hidden = batches.length === 0;
  const filtered = $('filter-status').value || $('filter-priority').value;
  say($('batches-empty'), batches.length ? '' : previous.length
    ? 'No more batches on this page — go back with “Newer”.'
    : filtered
      ? 'No batches match these filters — set Status to “All” and Priority to “Any” to see every batch.'
      : 'No batches yet — upload activities and submit a batch (Upload & submit, above).');
}
