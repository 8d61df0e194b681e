// Emission factors visible to the tenant (built-in and own), filtered by activity type as you type.
import { describeError, get } from './api.js';
import { $, clearChildren, el, say } from './dom.js';
import { num } from './format.js';

let factors = null; // loaded once per visit

$('factors-filter').addEventListener('input', render);
$('factors-form').addEventListener('submit', (e) => e.preventDefault());

export async function show() {
  factors = null;
  say($('factors-error'), '');
  $('factors-count').textContent = 'Loading…';
  try {
    factors = (await get('/emission-factors')).factors || [];
    render();
  } catch (err) {
    $('factors-count').textContent = '';
    say($('factors-error'), `Could not load emission factors. ${describeError(err)} Reload the page to retry.`);
  }
}

export function hide() {}

function render() {
  if (!factors) return;
  const filter = $('factors-filter').value.trim().toLowerCase();
  const shown = factors.filter((f) => !filter || String(f.activity_type).toLowerCase().includes(filter));
  const body = $('factors-table').querySelector('tbody');
  clearChildren(body);
  for (const f of shown) {
    body.append(el('tr', { dataset: { factorId: f.id } },
      el('td', { className: 'id' }, f.id),
      el('td', {}, f.activity_type),
      el('td', { className: 'num' }, String(f.scope)),
      el('td', {}, f.region),
      el('td', {}, f.unit),
      el('td', { className: 'num' }, num(Number(f.kg_co2e_per_unit), 10)),
      el('td', {}, f.valid_from),
      el('td', { className: 'builtin' }, f.builtin ? 'built-in' : 'own'),
      el('td', { className: 'source' }, f.source ?? '')));
  }
  $('factors-count').textContent = `${num(shown.length)} of ${num(factors.length)} factors`;
  $('factors-table').hidden = shown.length === 0;
  say($('factors-empty'), shown.length ? '' : factors.length
    ? `No factor for an activity type containing “${filter}” — clear the filter to see all.`
    : 'No emission factors — the server ships built-in ones with its migrations; check that they ran.');
}
