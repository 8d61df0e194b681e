// This node: health, workers, queue and the last ten minutes of throughput, refreshed every 5 s.
import { ApiError, describeError, get, poll } from './api.js';
import { seriesBars } from './chart.js';
import { $, clearChildren, el, say, setBadge } from './dom.js';
import { duration, num, rate } from './format.js';

let stopPolling = null;
let visible = false; // an answer that arrives after we left is dropped

export function show() {
  hide();
  visible = true;
  stopPolling = poll(load, 5000);
}

export function hide() {
  visible = false;
  if (stopPolling) stopPolling();
  stopPolling = null;
}

async function load() {
  let node;
  try {
    node = await get('/node');
  } catch (err) {
    // A 503 still carries the node's report (status "unavailable"): show it.
    if (err instanceof ApiError && err.body && err.body.scheduler) node = err.body;
    else {
      if (!visible) return;
      setBadge($('node-status'), 'unavailable');
      say($('node-error'), `Could not read the node's state. ${describeError(err, { retrying: true })}`);
      return;
    }
  }
  if (!visible) return;
  say($('node-error'), node.status === 'ok' ? '' : 'The node reports itself unavailable (database unreachable or shutting down). Retrying.');
  render(node);
}

function render(n) {
  const s = n.scheduler || {}, db = n.database || {}, t = n.throughput || {}, a = n.activities || {};
  setBadge($('node-status'), n.status);
  $('node-workers').textContent = `${num(s.busy_workers)} / ${num(s.workers)}`;
  $('node-queue').textContent = num(s.queue_depth);
  $('node-throughput').textContent = rate(t.per_second_last_minute);
  $('node-database').textContent = `${db.status ?? '–'}${db.latency_ms != null ? ` · ${num(db.latency_ms, 2)} ms` : ''}`;

  const buckets = Array.isArray(t.buckets) ? t.buckets : [];
  const step = t.bucket_seconds || 10;
  seriesBars($('throughput-chart'), buckets, {
    titles: (i, v) => `${num(v)} activities, ${i === buckets.length - 1 ? 'current bucket' : `${duration((buckets.length - 1 - i) * step)} ago`}`,
  });
  const total = buckets.reduce((x, y) => x + y, 0);
  $('throughput-note').textContent = `${num(total)} activities in the last ${duration(buckets.length * step)}; one bar per ${step} s, newest right (the last one is still filling).`;

  const details = $('node-details');
  clearChildren(details);
  const row = (k, v) => details.append(el('div', {}, el('dt', {}, k), el('dd', {}, v)));
  row('Node id', n.node_id ?? '–');
  row('Version', n.version ?? '–');
  row('Up for', duration(n.uptime_seconds));
  row('Scheduler', s.running ? 'running' : 'stopped');
  row('Batches in flight', num(s.in_flight_batches));
  row('Activities succeeded', num(a.succeeded));
  row('Activities failed', num(a.failed));
  row('Updated', new Date().toLocaleTimeString());
}
