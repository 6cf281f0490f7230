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

/** Font sizes of the bar charts' labels and value notes, in px. */
export const LABEL_FONT = 11;
export const NOTE_FONT = 10;
/** The widest the label column grows; a longer label is shortened with `…`, in full in its tooltip. */
export const LABEL_COLUMN_MAX = 240;
const LABEL_COLUMN_MIN = 40;
const GAP = 6;
const BAR_SPAN = 200;

/**
 * A generous estimate of the width of `text` in a sans-serif font of `fontSize` px, from per-character
 * classes (narrow, digits, lower case, upper case, wide): enough room, rarely much more than needed.
 */
export function estimateTextWidth(text: string, fontSize: number): number {
  let em = 0;
  for (const ch of text) {
    if (/[iljI.,:;|!'`]/.test(ch)) em += 0.32;
    else if (/[ ft()[\]{}r\-/]/.test(ch)) em += 0.42;
    else if (/[mwMW@%]/.test(ch)) em += 0.95;
    else if (/[A-Z]/.test(ch)) em += 0.72;
    else if (/[0-9a-z]/.test(ch)) em += 0.6;
    else em += 0.7;
  }
  return Math.ceil(em * fontSize);
}

/** `text` cut to fit `width` px with a trailing `…`, or as it is when it fits. */
export function fitText(text: string, width: number, fontSize: number): string {
  if (estimateTextWidth(text, fontSize) <= width) return text;
  const chars = [...text];
  let n = chars.length;
  while (n > 1 && estimateTextWidth(`${chars.slice(0, n).join('')}…`, fontSize) > width) n--;
  return `${chars.slice(0, n).join('').trimEnd()}…`;
}

/** Where a bar chart puts things: the label column fits the longest label (up to LABEL_COLUMN_MAX). */
export interface BarsLayout {
  /** Width of the label column, px. */
  labelWidth: number;
  /** Where the bars start: after the label column and a gap. */
  x0: number;
  span: number;
  width: number;
  /** Each bar's label as drawn: whole, or shortened (then `full` is in its tooltip). */
  labels: { shown: string; full: string }[];
}

const noteText = (b: Bar) => `${num(b.value)}${b.note ? `  ${b.note}` : ''}`;

export function barsLayout(bars: Bar[]): BarsLayout {
  const longest = Math.max(0, ...bars.map((b) => estimateTextWidth(b.label, LABEL_FONT)));
  const labelWidth = Math.min(LABEL_COLUMN_MAX, Math.max(LABEL_COLUMN_MIN, longest));
  const x0 = labelWidth + GAP;
  const notes = Math.max(0, ...bars.map((b) => estimateTextWidth(noteText(b), NOTE_FONT)));
  return {
    labelWidth, x0, span: BAR_SPAN, width: x0 + BAR_SPAN + 4 + notes + 2,
    labels: bars.map((b) => ({ shown: fitText(b.label, labelWidth, LABEL_FONT), full: b.label })),
  };
}

/**
 * Horizontal bars on a common scale from 0 to the largest value or upper bound, with the interval as
 * a whisker when there is one. The label column is as wide as the longest label needs, up to
 * LABEL_COLUMN_MAX; a label longer than that is shortened with `…` and shown whole in its tooltip
 * (an SVG `<title>`), and the bar's tooltip names it whole too.
 */
export function barsSvg(bars: Bar[], label: string): string {
  const rowH = 18;
  const { x0, span, width: w, labels } = barsLayout(bars);
  const max = Math.max(1e-12, ...bars.map((b) => Math.max(b.value, b.upper ?? 0)).filter(Number.isFinite));
  const sx = (v: number) => x0 + (Math.max(0, v) / max) * span;
  const rows = bars.map((b, i) => {
    const y = i * rowH;
    const { shown, full } = labels[i]!;
    const whisker = b.lower !== undefined && b.upper !== undefined && Number.isFinite(b.lower) && Number.isFinite(b.upper)
      ? `<line x1="${sx(b.lower).toFixed(1)}" x2="${sx(b.upper).toFixed(1)}" y1="${y + 9}" y2="${y + 9}" stroke="#222" stroke-width="1.5"/>` : '';
    const title = `${b.label}: ${num(b.value)} ${interval(b.lower, b.upper)}${b.note ? ` (${b.note})` : ''}`;
    const tip = shown === full ? '' : `<title>${esc(full)}</title>`;
    return `<text x="0" y="${y + 13}" font-size="${LABEL_FONT}">${tip}${esc(shown)}</text>` +
      `<rect x="${x0}" y="${y + 3}" width="${(sx(b.value) - x0).toFixed(1)}" height="${rowH - 6}" fill="${b.flagged ? '#e45756' : '#4c78a8'}"><title>${esc(title)}</title></rect>${whisker}` +
      `<text x="${(Math.max(sx(b.value), sx(b.upper ?? 0)) + 4).toFixed(1)}" y="${y + 13}" font-size="${NOTE_FONT}">${esc(noteText(b))}</text>`;
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
