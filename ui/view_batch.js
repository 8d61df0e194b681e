// One batch: live progress (event stream, /progress polling as fallback), emissions by scope,
// failed items, and cancel / retry / delete.
import { describeError, get, openEventStream, poll, request } from './api.js';
import { labelledBars, clear } from './chart.js';
import { $, TERMINAL, clearChildren, confirmDialog, el, flash, say, setBadge } from './dom.js';
import { absTime, co2e, co2eAs, count, duration, num, percentInt, rate, timeElement } from './format.js';

let id = null;
let batch = null;         // last batch object seen
let stream = null;        // open event stream, if any
let stopProgressPoll = null;
let stopEmissionsPoll = null;
let failedToken = null;   // next page of failed items
let failedPaged = false;  // the user asked for more pages: stop refreshing the first one
let visit = 0;            // bumped on every show/hide: answers of an earlier visit are dropped
let processed = null;     // processed count last shown
let emissionsAt = null;   // processed count when the scope totals were last read

$('batch-cancel').addEventListener('click', () => act('cancel'));
$('batch-retry').addEventListener('click', () => act('retry'));
$('batch-delete').addEventListener('click', () => act('delete'));
$('failed-more').addEventListener('click', () => { failedPaged = true; loadFailed(false); });

const path = () => `/batches/${encodeURIComponent(id)}`;

export function show(params) {
  id = params.id;
  visit++;
  batch = null;
  failedPaged = false;
  processed = null;
  emissionsAt = null;
  $('batch-id').textContent = id;
  $('batch-body').hidden = true; // until the batch is loaded: a bad id shows only its error
  for (const n of ['batch-error', 'action-message', 'batch-live']) say($(n), '');
  setBadge($('batch-status'), '…');
  renderProgress({});
  clear($('scope-chart'));
  $('scope-chart').toggleAttribute('hidden', true);
  $('scope-note').textContent = '';
  $('batch-metadata').textContent = '';
  clearChildren($('batch-details'));
  clearChildren($('failed-items').querySelector('tbody'));
  setButtons(null);
  load();
}

export function hide() {
  visit++;
  stopLive();
}

function stopLive() {
  if (stream) stream.close();
  stream = null;
  if (stopProgressPoll) stopProgressPoll();
  stopProgressPoll = null;
  if (stopEmissionsPoll) stopEmissionsPoll();
  stopEmissionsPoll = null;
}

async function load() {
  const v = visit;
  try {
    const b = await get(path());
    if (v !== visit) return;
    renderBatch(b);
    $('batch-body').hidden = false;
    if (TERMINAL.has(b.status)) { loadEmissions(); loadFailed(true); } else follow();
  } catch (err) {
    if (v !== visit) return;
    say($('batch-error'), err.status === 404
      ? 'No such batch in this workspace — it may have been deleted. Go back to the batch list.'
      : `Could not load the batch. ${describeError(err)} Reload the page to retry.`);
  }
}

/** Live updates: the event stream first; /progress once a second while it is down. */
function follow() {
  stopLive();
  const v = visit;
  // Scope totals and new failures every 5 s while it runs, read again only
  // when more activities were processed since (a queued batch costs nothing).
  stopEmissionsPoll = poll(async () => {
    if (processed === emissionsAt) return;
    await Promise.all([loadEmissions(), failedPaged || loadFailed(true)]);
  }, 5000);
  stream = openEventStream(`${path()}/events`, {
    onOpen() {
      say($('batch-live'), 'live');
      if (stopProgressPoll) stopProgressPoll();
      stopProgressPoll = null;
    },
    onEvent(type, data) {
      if (v !== visit) return;
      if (type === 'progress') renderProgress(data);
      else if (type === 'done') finished(data);
    },
    onError(err, willRetry) {
      if (v !== visit) return;
      if (err.status === 404) { say($('batch-error'), 'This batch no longer exists (deleted).'); stopLive(); return; }
      say($('batch-live'), willRetry
        ? (err.status === 503 ? 'The server is unavailable, retrying — polling meanwhile' : 'live stream interrupted — polling, reconnecting')
        : `live updates stopped: ${describeError(err)}`);
      if (!stopProgressPoll) stopProgressPoll = poll(pollProgress, 1000);
    },
  });
}

async function pollProgress() {
  const v = visit;
  try {
    const p = await get(`${path()}/progress`);
    if (v !== visit) return;
    renderProgress(p);
    if (!TERMINAL.has(p.status)) return;
    const final = await get(path());
    if (v === visit) finished(final);
  } catch (err) {
    if (v === visit) say($('batch-live'), describeError(err, { retrying: true }));
  }
}

function finished(final) {
  stopLive();
  say($('batch-live'), '');
  renderBatch(final);
  loadEmissions();
  loadFailed(true);
}

// ---- rendering ----

function renderBatch(b) {
  batch = b;
  renderProgress({
    status: b.status, total: b.total_activities, processed: b.processed_activities,
    succeeded: b.succeeded_activities, failed: b.failed_activities, percent: b.progress_percent,
    emissions_kg_co2e: b.total_emissions_kg_co2e, throughput_per_second: null, eta_seconds: null,
  });
  say($('batch-error'), b.error ? `Batch error: ${b.error}` : '');
  $('batch-metadata').textContent = JSON.stringify(b.metadata ?? {}, null, 2);
  const details = $('batch-details');
  clearChildren(details);
  const row = (k, v) => details.append(el('div', {}, el('dt', {}, k), el('dd', {}, v)));
  row('Priority', String(b.priority));
  row('Retries', `${num(b.retry_count)} of ${num(b.max_retries)}`);
  row('Created', absTime(b.created_at));
  row('Started', absTime(b.started_at));
  row('Finished', absTime(b.completed_at));
  if (b.started_at && b.completed_at) row('Took', duration((new Date(b.completed_at) - new Date(b.started_at)) / 1000));
  if (b.idempotency_key) row('Idempotency key', b.idempotency_key);
  setButtons(b);
}

function renderProgress(p) {
  const pct = percentInt(p.percent);
  const bar = $('batch-progress');
  bar.setAttribute('aria-valuenow', String(pct));
  bar.firstElementChild.style.width = `${Math.max(0, Math.min(100, p.percent || 0))}%`;
  $('batch-percent').textContent = p.total !== undefined ? `${pct}%` : '–';
  if (p.status) {
    setBadge($('batch-status'), p.status);
    bar.dataset.status = p.status;
    if (batch && batch.status !== p.status) { batch = { ...batch, status: p.status }; setButtons(batch); }
  }
  if (p.processed !== undefined) processed = p.processed;
  $('batch-counts').textContent = p.total === undefined ? '–'
    : `${num(p.processed)} of ${num(p.total)} (${num(p.succeeded)} succeeded, ${num(p.failed)} failed)`;
  const running = p.status === 'processing';
  $('batch-rate').textContent = running && p.throughput_per_second != null ? rate(p.throughput_per_second) : '–';
  $('batch-eta').textContent = TERMINAL.has(p.status) ? 'finished'
    : running && p.eta_seconds != null ? duration(p.eta_seconds) : '–';
  $('batch-emissions').textContent = co2e(p.emissions_kg_co2e);
}

function setButtons(b) {
  const s = b ? b.status : null;
  $('batch-cancel').disabled = !['pending', 'queued', 'processing'].includes(s) || !!(b && b.cancel_requested);
  $('batch-retry').disabled = !['failed', 'cancelled'].includes(s);
  $('batch-delete').disabled = !['pending', 'completed', 'failed', 'cancelled'].includes(s);
}

async function loadEmissions() {
  const v = visit;
  const at = processed;
  try {
    const e = await get(`${path()}/emissions`);
    if (v !== visit) return;
    emissionsAt = at;
    const scopes = [1, 2, 3].map((n) => (e.scopes || []).find((s) => s.scope === n) || { scope: n, items: 0, emissions_kg_co2e: 0 });
    if (!scopes.some((s) => s.items > 0 || s.emissions_kg_co2e > 0)) {
      clear($('scope-chart'));
      $('scope-chart').toggleAttribute('hidden', true);
      $('scope-note').textContent = batch && TERMINAL.has(batch.status)
        ? 'No emissions: no activity of this batch succeeded.'
        : 'No emissions yet — the chart appears once activities succeed.';
      return;
    }
    $('scope-chart').toggleAttribute('hidden', false);
    const largest = Math.max(...scopes.map((s) => Math.abs(s.emissions_kg_co2e)));
    labelledBars($('scope-chart'), scopes.map((s) => ({
      label: `Scope ${s.scope}`, value: s.emissions_kg_co2e, valueLabel: co2eAs(s.emissions_kg_co2e, largest),
      attrs: { 'data-scope': s.scope, class: `scope-${s.scope}` },
    })));
    $('scope-note').textContent = `Total ${co2e(e.total_emissions_kg_co2e)} from ${scopes.map((s) => `${num(s.items)} in scope ${s.scope}`).join(', ')}.`;
  } catch (err) {
    if (v === visit) $('scope-note').textContent = `Emissions by scope unavailable: ${describeError(err, { retrying: !!stream })}`;
  }
}

/** Failed items, 100 at a time; `first` starts over, else appends the next page. */
async function loadFailed(first) {
  const v = visit;
  const q = new URLSearchParams({ status: 'failed', limit: '100' });
  if (!first && failedToken) q.set('page_token', failedToken);
  try {
    const { items = [], next_page_token: next } = await get(`${path()}/items?${q}`);
    if (v !== visit) return;
    const body = $('failed-items').querySelector('tbody');
    if (first) clearChildren(body);
    for (const it of items) {
      body.append(el('tr', { dataset: { activityId: it.activity_id } },
        el('td', { className: 'id' }, it.activity_id),
        el('td', { className: 'error' }, it.error ?? ''),
        el('td', { className: 'num' }, num(it.attempts)),
        el('td', {}, timeElement(it.processed_at))));
    }
    failedToken = next || null;
    $('failed-more').hidden = !failedToken;
    const shown = body.children.length;
    $('failed-items').hidden = shown === 0;
    $('failed-note').textContent = shown === 0 ? 'No failed activities.'
      : `${count(shown, 'failed activity', 'failed activities')} shown${failedToken ? ' — more below' : ''}. Errors: activity_not_found (upload it first), no_emission_factor, unit_mismatch.`;
  } catch (err) {
    if (v === visit) $('failed-note').textContent = `Could not load failed activities. ${describeError(err)}`;
  }
}

// ---- actions ----

const QUESTIONS = {
  cancel: ['Cancel this batch? Activities already processed keep their results.', 'Cancel batch'],
  retry: ['Retry this batch? Failed and unprocessed activities run again.', 'Retry batch'],
  delete: ['Delete this batch and all its results? This cannot be undone.', 'Delete batch'],
};

async function act(action) {
  const v = visit;
  const [question, yes] = QUESTIONS[action];
  if (!(await confirmDialog(question, yes)) || v !== visit) return;
  const msg = $('action-message');
  msg.className = '';
  say(msg, 'Working…');
  setButtons(null); // no second action while this one runs
  try {
    const res = action === 'delete' ? await request('DELETE', path()) : await request('POST', `${path()}/${action}`);
    if (v !== visit) return;
    if (action === 'delete') {
      flash(`Batch ${id} deleted.`);
      location.hash = '#/batches';
      return;
    }
    renderBatch(res.data);
    say(msg, action === 'retry' ? `Retry ${res.data.retry_count} started: the batch is ${res.data.status} again.`
      : res.status === 202 ? 'Cancel requested: the batch stops within a few seconds.' : 'Batch cancelled.');
    msg.focus(); // the button that was pressed is disabled now: keep keyboard users near the outcome
    if (!TERMINAL.has(res.data.status)) follow();
  } catch (err) {
    if (v !== visit) return;
    msg.className = 'error';
    say(msg, err.code === 'invalid_state'
      ? `Not possible while the batch is ${err.details.status || 'in this state'}.`
      : `${action[0].toUpperCase()}${action.slice(1)} failed. ${describeError(err)}`);
    msg.focus();
    get(path()).then((b) => v === visit && renderBatch(b), () => setButtons(batch));
  }
}
