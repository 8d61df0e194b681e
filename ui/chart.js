// Hand-drawn SVG bar charts (no library: CSP allows only our own scripts).

const SVG = 'http://www.w3.org/2000/svg';

/** An SVG element with attributes set through setAttribute (never markup). */
export function svgEl(name, attrs = {}, text) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

export function clear(el) { while (el.firstChild) el.firstChild.remove(); }

// Draw in the element's own pixel size, so text keeps its CSS size at any width.
const widthOf = (svg, fallback) => Math.round(svg.getBoundingClientRect().width) || fallback;

/**
 * Labelled vertical bars, one rect per bar, e.g. emissions by scope.
 * bars: [{label, value, valueLabel, attrs}] — attrs go on the rect (data-scope, class).
 */
export function labelledBars(svg, bars, { height = 220 } = {}) {
  const width = widthOf(svg, 420);
  clear(svg);
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  const top = 28, bottom = 30, gap = 24;
  const max = Math.max(...bars.map((b) => b.value), 0) || 1;
  const slot = (width - gap) / bars.length;
  const plot = height - top - bottom;
  svg.append(svgEl('line', { x1: 0, x2: width, y1: top + plot, y2: top + plot, class: 'axis' }));
  bars.forEach((b, i) => {
    const h = b.value > 0 ? Math.max(2, (b.value / max) * plot) : 0; // a tiny value stays visible
    const x = gap + i * slot, w = slot - gap, y = top + plot - h;
    const rect = svgEl('rect', { x, y, width: w, height: h, rx: 3, ...b.attrs });
    rect.append(svgEl('title', {}, `${b.label}: ${b.valueLabel}`));
    svg.append(rect,
      svgEl('text', { x: x + w / 2, y: Math.max(y - 8, 14), 'text-anchor': 'middle', class: 'value' }, b.valueLabel),
      svgEl('text', { x: x + w / 2, y: height - 10, 'text-anchor': 'middle', class: 'label' }, b.label));
  });
}

/**
 * A compact series of bars (e.g. 60 throughput buckets), oldest left; exactly one rect per value.
 * titles(i, v) gives each bar's tooltip.
 */
export function seriesBars(svg, values, { height = 180, titles, lastClass = 'current' } = {}) {
  const width = widthOf(svg, 600);
  clear(svg);
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  const top = 18, bottom = 4, left = 4;
  const max = Math.max(...values, 0);
  const plot = height - top - bottom;
  const slot = (width - left) / Math.max(values.length, 1);
  svg.append(svgEl('line', { x1: 0, x2: width, y1: top + plot, y2: top + plot, class: 'axis' }),
    svgEl('text', { x: width - 2, y: 12, 'text-anchor': 'end', class: 'label' }, `max ${max.toLocaleString()}`));
  values.forEach((v, i) => {
    const h = max > 0 ? (v / max) * plot : 0;
    const attrs = { x: left + i * slot + 1, y: top + plot - h, width: Math.max(slot - 2, 1), height: h };
    if (i === values.length - 1) attrs.class = lastClass;
    const rect = svgEl('rect', attrs);
    if (titles) rect.append(svgEl('title', {}, titles(i, v)));
    svg.append(rect);
  });
}
