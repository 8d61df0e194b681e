// Upload a CSV of activities, then submit a batch of their ids.
import { describeError, request } from './api.js';
import { parseCsv } from './csv.js';
import { $, batchLink, clearChildren, el, say } from './dom.js';
import { count, num } from './format.js';

const ID_RE = /^[A-Za-z0-9_.:-]{1,128}$/;
let idempotencyKey = null; // reused until the form changes, so a repeat never makes a second batch

$('upload-form').addEventListener('submit', upload);
$('submit-form').addEventListener('submit', submit);
$('submit-form').addEventListener('input', () => { idempotencyKey = null; });

export function show() {}
export function hide() {}

async function upload(event) {
  event.preventDefault();
  say($('upload-result'), '');
  say($('upload-error'), '');
  $('upload-preview').hidden = true;
  const file = $('upload-file').files[0];
  if (!file) { say($('upload-error'), 'Choose a CSV file first.'); $('upload-file').focus(); return; }
  const button = $('upload-submit');
  button.disabled = true;
  try {
    const text = await file.text();
    if (!text.trim()) { say($('upload-error'), `${file.name} is empty. Choose a CSV with a header row and activities.`); return; }
    const { data } = await request('POST', '/activities', { body: text, contentType: 'text/csv' });
    say($('upload-result'), `Uploaded ${count(data.upserted, 'activity', 'activities')} from ${file.name}. Their ids are filled in below.`);
    const rows = parseCsv(text);
    const idCol = (rows[0] || []).indexOf('id');
    if (idCol >= 0) {
      $('submit-ids').value = rows.slice(1).map((r) => r[idCol]).filter(Boolean).join('\n');
      idempotencyKey = null;
    }
  } catch (err) {
    showUploadError(err, file);
  } finally {
    button.disabled = false;
  }
}

async function showUploadError(err, file) {
  const row = err.details && Number(err.details.row);
  if (err.status === 413) {
    say($('upload-error'), 'The file is too large for one upload (at most 10,000 rows and 4 MiB). Split it and upload the parts.');
  } else if (err.status === 400 && row > 0) {
    const where = err.details.field ? `, column ${err.details.field}` : '';
    say($('upload-error'), `Row ${num(row)}${where}: ${err.message}. Nothing was uploaded — fix the row and upload again.`);
    renderPreview(parseCsv(await file.text()), row, err.message);
  } else {
    say($('upload-error'), `Upload failed. ${describeError(err)}`);
  }
}

/** The CSV around the bad row (data row n, 1-based), with that row marked. */
function renderPreview(rows, bad, message) {
  const table = $('upload-preview');
  clearChildren(table);
  const header = rows[0] || [];
  table.append(el('caption', {}, `Rows ${num(Math.max(1, bad - 5))}–${num(Math.min(rows.length - 1, bad + 5))} of ${num(rows.length - 1)}`),
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Row'),
      ...header.map((h) => el('th', { scope: 'col' }, h)), el('th', { scope: 'col' }, 'Problem'))));
  const body = el('tbody');
  for (let n = Math.max(1, bad - 5); n <= Math.min(rows.length - 1, bad + 5); n++) {
    const isBad = n === bad;
    body.append(el('tr', { className: isBad ? 'bad-row' : '', dataset: { row: String(n) } },
      el('th', { scope: 'row', className: 'num' }, num(n)),
      ...rows[n].map((cell) => el('td', {}, cell)),
      el('td', { className: 'problem' }, isBad ? message : '')));
  }
  table.append(body);
  table.hidden = false;
}

function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // Plain-HTTP pages on other hosts are not a secure context: build a v4 UUID by hand.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The submit body from the form, or a message saying what to fix. */
function readSubmitForm() {
  const ids = [...new Set($('submit-ids').value.split(/[\s,]+/).filter(Boolean))];
  if (!ids.length) return { error: 'Enter at least one activity id (or upload a CSV first).', focus: 'submit-ids' };
  const badId = ids.find((x) => !ID_RE.test(x));
  if (badId) return { error: `“${badId}” is not a valid activity id (1–128 of A-Z a-z 0-9 _ . : -).`, focus: 'submit-ids' };
  const body = { activity_ids: ids };
  const priority = $('submit-priority').value.trim();
  if (priority) {
    if (!/^\d+$/.test(priority) || +priority < 1 || +priority > 10) return { error: 'Priority must be a whole number from 1 to 10.', focus: 'submit-priority' };
    body.priority = +priority;
  }
  const retries = $('submit-max-retries').value.trim();
  if (retries) {
    if (!/^\d+$/.test(retries) || +retries > 10) return { error: 'Max retries must be a whole number from 0 to 10.', focus: 'submit-max-retries' };
    body.max_retries = +retries;
  }
  const meta = $('submit-metadata').value.trim();
  if (meta) {
    let parsed;
    try { parsed = JSON.parse(meta); } catch (e) { return { error: `Metadata is not valid JSON: ${e.message}`, focus: 'submit-metadata' }; }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return { error: 'Metadata must be a JSON object, like {"run": "nightly"}.', focus: 'submit-metadata' };
    body.metadata = parsed;
  }
  return { body };
}

async function submit(event) {
  event.preventDefault();
  say($('submit-result'), '');
  say($('submit-error'), '');
  const { body, error, focus } = readSubmitForm();
  if (error) { say($('submit-error'), error); $(focus).focus(); return; }
  const button = $('submit-batch');
  if (button.disabled) return;
  button.disabled = true;
  idempotencyKey = idempotencyKey || uuid();
  try {
    const { status, data } = await request('POST', '/batches', { body, headers: { 'Idempotency-Key': idempotencyKey } });
    const result = $('submit-result');
    clearChildren(result);
    const link = batchLink(data.id);
    link.dataset.batchId = data.id;
    result.append(status === 201 ? 'Batch submitted: ' : 'Already submitted (same form; change it to submit another): ', link,
      ` — ${count(data.total_activities, 'activity', 'activities')}, status ${data.status}.`);
    result.hidden = false;
  } catch (err) {
    const dup = err.details && err.details.duplicates;
    say($('submit-error'), `The batch was not submitted. ${describeError(err)}${dup ? ` Duplicates: ${[].concat(dup).join(', ')}.` : ''}`);
  } finally {
    button.disabled = false;
  }
}
