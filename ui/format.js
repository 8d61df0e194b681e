// Numbers, emissions, durations and times formatted for people (the browser's locale).

const formatters = new Map();
function nf(min, max) {
  const key = `${min}-${max}`;
  if (!formatters.has(key)) {
    formatters.set(key, new Intl.NumberFormat(undefined, { minimumFractionDigits: min, maximumFractionDigits: max }));
  }
  return formatters.get(key);
}

const isNum = (x) => typeof x === 'number' && Number.isFinite(x);

/** 12345.678 → "12,345.68" (at most `max` decimals). */
export const num = (x, max = 0) => (isNum(x) ? nf(0, max).format(x) : '–');

/** "1 activity" / "3 activities". */
export const count = (n, one, many) => `${num(n)} ${n === 1 ? one : many}`;

/** kg CO2e, switching to tonnes from 1,000 kg; keeps small values readable. */
export function co2e(kg) {
  if (!isNum(kg)) return '–';
  if (Math.abs(kg) >= 1000) return `${nf(0, 2).format(kg / 1000)} t CO2e`;
  return `${nf(0, Math.abs(kg) < 1 && kg !== 0 ? 4 : 2).format(kg)} kg CO2e`;
}

/**
 * kg CO2e in a unit chosen for the largest of a set (t from 1,000 kg), so
 * bars drawn side by side are labelled in the same unit.
 */
export function co2eAs(kg, largestKg) {
  if (!isNum(kg)) return '–';
  if (isNum(largestKg) && Math.abs(largestKg) >= 1000) return `${nf(0, Math.abs(kg) < 1000 ? 4 : 2).format(kg / 1000)} t CO2e`;
  return `${nf(0, Math.abs(kg) < 1 && kg !== 0 ? 4 : 2).format(kg)} kg CO2e`;
}

/** Seconds → "45s", "1m 05s", "2h 03m", "3d 4h". */
export function duration(seconds) {
  if (!isNum(seconds) || seconds < 0) return '–';
  const s = Math.round(seconds);
  const pad = (n) => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${pad(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor(s / 3600) % 24}h`;
}

/** Activities per second: one decimal below 100/s. */
export const rate = (perSecond) =>
  (isNum(perSecond) ? `${num(perSecond, perSecond < 100 ? 1 : 0)} activities/s` : '–');

/** Percent 0–100 as an integer that only reaches 100 when done. */
export const percentInt = (p) => (isNum(p) ? Math.max(0, Math.min(100, Math.floor(p))) : 0);

/** An RFC 3339 time as the reader's local date and time. */
export function absTime(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

/** "12s ago", "5 min ago", "3 h ago", else the date. */
export function relTime(iso, now = Date.now()) {
  if (!iso) return '–';
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return String(iso);
  const s = Math.round((now - t) / 1000);
  if (s < 0) return absTime(iso);
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

/** A <time> element showing the relative time, the exact one on hover. */
export function timeElement(iso) {
  const el = document.createElement('time');
  if (iso) { el.dateTime = iso; el.title = absTime(iso); }
  el.textContent = relTime(iso);
  return el;
}
