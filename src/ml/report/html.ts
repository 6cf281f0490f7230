/** Small pieces shared by the self-contained HTML reports of evaluation and fairness. */

export const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Four significant digits, integers as they are; null and NaN as a dash. */
export function num(v: number | null | undefined): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  if (!Number.isFinite(v)) return String(v);
  return Number.isInteger(v) ? v.toLocaleString('en-US') : v.toPrecision(4);
}

export function interval(lower?: number | null, upper?: number | null): string {
  return lower === undefined || lower === null || upper === undefined || upper === null ? '' : `[${num(lower)}, ${num(upper)}]`;
}

export interface Bar {
  label: string;
  value: number;
  lower?: number;
  upper?: number;
  /** Shown after the bar, e.g. the row count. */
  note?: string;
  /** Drawn in the warning colour. */
  flagged?: boolean;
}

/**
 * Horizontal bars on a common scale from 0 to the largest value or upper bound, with the interval as
 * a whisker when there is one.
 */
export function barsSvg(bars: Bar[], label: string): string {
  const w = 420;
  const rowH = 18;
  const x0 = 130;
  const span = w - x0 - 90;
  const max = Math.max(1e-12, ...bars.map((b) => Math.max(b.value, b.upper ?? 0)).filter(Number.isFinite));
  const sx = (v: number) => x0 + (Math.max(0, v) / max) * span;
  const rows = bars.map((b, i) => {
    const y = i * rowH;
    const text = b.label.length > 20 ? `${b.label.slice(0, 19)}…` : b.label;
    const whisker = b.lower !== undefined && b.upper !== undefined && Number.isFinite(b.lower) && Number.isFinite(b.upper)
      ? `<line x1="${sx(b.lower).toFixed(1)}" x2="${sx(b.upper).toFixed(1)}" y1="${y + 9}" y2="${y + 9}" stroke="#222" stroke-width="1.5"/>` : '';
    const title = `${b.label}: ${num(b.value)} ${interval(b.lower, b.upper)}${b.note ? ` (${b.note})` : ''}`;
    return `<text x="0" y="${y + 13}" font-size="11">${esc(text)}</text>` +
      `<rect x="${x0}" y="${y + 3}" width="${(sx(b.value) - x0).toFixed(1)}" height="${rowH - 6}" fill="${b.flagged ? '#e45756' : '#4c78a8'}"><title>${esc(title)}</title></rect>${whisker}` +
      `<text x="${(Math.max(sx(b.value), sx(b.upper ?? 0)) + 4).toFixed(1)}" y="${y + 13}" font-size="10">${esc(`${num(b.value)}${b.note ? `  ${b.note}` : ''}`)}</text>`;
  }).join('');
  const h = bars.length * rowH + 4;
  return `<svg role="img" aria-label="${esc(label)}" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">${rows}</svg>`;
}

export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:20px}h2{font-size:16px;margin:20px 0 8px}h3{font-size:14px;margin:12px 0 6px}
.grid{display:flex;flex-wrap:wrap;gap:16px}
.card{border:1px solid #ddd;border-radius:6px;padding:12px}
table{border-collapse:collapse;margin-bottom:8px}
th,td{padding:2px 10px 2px 0;text-align:left}th{color:#666;font-weight:normal}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.flag{color:#c0392b;font-weight:600}.note{color:#555}
</style></head><body>
<h1>${esc(title)}</h1>
${body}
</body></html>
`;
}
