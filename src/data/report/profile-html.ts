/**
 * A self-contained HTML profile report: a card per column with its statistics and a histogram
 * (numeric, datetime) or a bar chart of its most frequent values (string, boolean), drawn as
 * inline SVG so the file opens anywhere without scripts or network.
 */
import type { ColumnProfile, Profile } from '../profile/profile.js';
import { formatDuration, formatInstant } from './format.js';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function fmt(v: number, type: string): string {
  if (type === 'datetime') return formatInstant(v);
  if (!Number.isFinite(v)) return String(v);
  return Math.abs(v) >= 1e5 || Number.isInteger(v) ? v.toLocaleString('en-US', { maximumFractionDigits: 2 }) : v.toPrecision(4);
}

function histogramSvg(c: ColumnProfile): string {
  const h = c.numeric!.histogram;
  const w = 360;
  const height = 120;
  const max = Math.max(1, ...h.counts);
  const bw = w / h.counts.length;
  const bars = h.counts.map((n, i) => {
    const bh = (n / max) * (height - 20);
    const title = `${fmt(h.edges[i]!, c.type)} – ${fmt(h.edges[i + 1]!, c.type)}: ${n}`;
    return `<rect x="${(i * bw + 1).toFixed(1)}" y="${(height - 16 - bh).toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${bh.toFixed(1)}" fill="#4c78a8"><title>${esc(title)}</title></rect>`;
  }).join('');
  const axis = `<text x="0" y="${height - 2}" font-size="10">${esc(fmt(h.edges[0]!, c.type))}</text><text x="${w}" y="${height - 2}" font-size="10" text-anchor="end">${esc(fmt(h.edges[h.edges.length - 1]!, c.type))}</text>`;
  return `<svg role="img" aria-label="histogram of ${esc(c.name)}" width="${w}" height="${height}" viewBox="0 0 ${w} ${height}">${bars}${axis}</svg>`;
}

function barsSvg(c: ColumnProfile): string {
  const top = (c.top ?? []).slice(0, 10);
  const w = 360;
  const rowH = 16;
  const max = Math.max(1, ...top.map((t) => t.count));
  const total = c.count || 1;
  const rows = top.map((t, i) => {
    const bw = (t.count / max) * (w - 150);
    return `<text x="0" y="${i * rowH + 12}" font-size="11">${esc(t.value.length > 18 ? `${t.value.slice(0, 17)}…` : t.value)}</text>` +
      `<rect x="120" y="${i * rowH + 3}" width="${bw.toFixed(1)}" height="${rowH - 5}" fill="#f58518"><title>${esc(`${t.value}: ${t.count}`)}</title></rect>` +
      `<text x="${(124 + bw).toFixed(1)}" y="${i * rowH + 12}" font-size="10">${((100 * t.count) / total).toFixed(1)}%</text>`;
  }).join('');
  return `<svg role="img" aria-label="top values of ${esc(c.name)}" width="${w}" height="${top.length * rowH + 4}" viewBox="0 0 ${w} ${top.length * rowH + 4}">${rows}</svg>`;
}

function card(c: ColumnProfile, rows: number): string {
  const stats: [string, string][] = [
    ['type', c.type],
    ['count', c.count.toLocaleString('en-US')],
    ['missing', `${c.missing.toLocaleString('en-US')} (${rows ? ((100 * c.missing) / rows).toFixed(1) : 0}%)`],
    ['distinct', `≈ ${c.distinct.toLocaleString('en-US')}`],
  ];
  if (c.numeric && c.type !== 'boolean') {
    const n = c.numeric;
    const spread = c.type === 'datetime' ? formatDuration(n.std) : fmt(n.std, 'float');
    stats.push(['mean', fmt(n.mean, c.type)], ['std', spread], ['min', fmt(n.min, c.type)],
      ['median', fmt(n.quantiles.p50!, c.type)], ['max', fmt(n.max, c.type)]);
    if (n.zeros) stats.push(['zeros', n.zeros.toLocaleString('en-US')]);
  }
  const chart = c.numeric && c.type !== 'boolean' ? histogramSvg(c) : c.top?.length ? barsSvg(c) : '';
  return `<section class="card"><h2>${esc(c.name)}</h2><table>${stats.map(([k, v]) => `<tr><th>${k}</th><td>${esc(v)}</td></tr>`).join('')}</table>${chart}</section>`;
}

export function profileHtml(profile: Profile, title: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:20px}.grid{display:flex;flex-wrap:wrap;gap:16px}
.card{border:1px solid #ddd;border-radius:6px;padding:12px;width:380px}
.card h2{font-size:15px;margin:0 0 8px}table{border-collapse:collapse;margin-bottom:8px}
th{text-align:left;color:#666;font-weight:normal;padding-right:12px}
</style></head><body>
<h1>${esc(title)}</h1>
<p>${profile.rows.toLocaleString('en-US')} rows, ${profile.columns.length} columns.</p>
<div class="grid">${profile.columns.map((c) => card(c, profile.rows)).join('\n')}</div>
</body></html>
`;
}
