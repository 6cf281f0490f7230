/**
 * The evaluation report as one self-contained HTML page: the metrics with their intervals, the
 * calibration curve and per-slice bars as inline SVG, the confusion matrix as a shaded table. No
 * scripts and no network, so the file opens anywhere and can be attached to a model version.
 */
import type { EvaluationReport, SliceReport } from '../evaluate.js';
import { barsSvg, esc, interval, num, page } from './html.js';

function metricsTable(r: EvaluationReport): string {
  const rows = Object.entries(r.metrics).map(([k, m]) => `<tr><th>${esc(k)}</th><td class="n">${num(m.value)}</td><td class="n">${interval(m.lower, m.upper)}</td></tr>`);
  const head = r.bootstrap ? `<tr><th></th><th>value</th><th>${Math.round(r.bootstrap.level * 100)}% interval</th></tr>` : '';
  return `<table>${head}${rows.join('')}</table>`;
}

function calibrationSvg(r: EvaluationReport): string {
  const c = r.calibration!;
  const size = 260;
  const pad = 30;
  const span = size - pad - 10;
  const sx = (v: number) => pad + v * span;
  const sy = (v: number) => size - pad - v * span;
  const maxCount = Math.max(1, ...c.points.map((p) => p.count));
  const line = c.points.map((p) => `${sx(p.predicted).toFixed(1)},${sy(p.observed).toFixed(1)}`).join(' ');
  const dots = c.points.map((p) => `<circle cx="${sx(p.predicted).toFixed(1)}" cy="${sy(p.observed).toFixed(1)}" r="${(2 + 4 * Math.sqrt(p.count / maxCount)).toFixed(1)}" fill="#4c78a8"><title>${esc(`mean predicted ${num(p.predicted)}, observed ${num(p.observed)}, ${p.count} rows`)}</title></circle>`).join('');
  const axes = `<line x1="${sx(0)}" y1="${sy(0)}" x2="${sx(1)}" y2="${sy(0)}" stroke="#999"/><line x1="${sx(0)}" y1="${sy(0)}" x2="${sx(0)}" y2="${sy(1)}" stroke="#999"/>` +
    `<line x1="${sx(0)}" y1="${sy(0)}" x2="${sx(1)}" y2="${sy(1)}" stroke="#bbb" stroke-dasharray="4 3"/>` +
    `<text x="${sx(0.5)}" y="${size - 6}" font-size="10" text-anchor="middle">mean predicted probability</text>` +
    `<text x="10" y="${sy(0.5)}" font-size="10" text-anchor="middle" transform="rotate(-90 10 ${sy(0.5)})">observed frequency</text>` +
    `<text x="${sx(0)}" y="${sy(0) + 12}" font-size="9" text-anchor="middle">0</text><text x="${sx(1)}" y="${sy(0) + 12}" font-size="9" text-anchor="middle">1</text>`;
  return `<svg role="img" aria-label="calibration curve" width="${size}" height="${size}" viewBox="0 0 ${size} ${size}">${axes}<polyline points="${line}" fill="none" stroke="#4c78a8" stroke-width="1.5"/>${dots}</svg>`;
}

function confusionTable(r: EvaluationReport): string {
  const { labels, counts } = r.confusionMatrix!;
  const head = `<tr><th>true ↓ / predicted →</th>${labels.map((l) => `<th>${esc(l)}</th>`).join('')}</tr>`;
  const body = counts.map((row, t) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    return `<tr><th>${esc(labels[t]!)}</th>${row.map((v, p) => {
      const share = v / total;
      const bg = p === t ? `rgba(76,120,168,${(0.1 + 0.6 * share).toFixed(2)})` : `rgba(228,87,86,${(0.6 * share).toFixed(2)})`;
      return `<td class="n" style="background:${bg}" title="${(100 * share).toFixed(1)}% of the true ${esc(labels[t]!)} rows">${v.toLocaleString('en-US')}</td>`;
    }).join('')}</tr>`;
  });
  return `<table>${head}${body.join('')}</table>`;
}

function perClassTable(r: EvaluationReport): string {
  const rows = r.perClass!.map((c) => `<tr><th>${esc(c.class)}</th><td class="n">${num(c.precision)}</td><td class="n">${num(c.recall)}</td><td class="n">${num(c.f1)}</td><td class="n">${c.support.toLocaleString('en-US')}</td></tr>`);
  return `<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>${rows.join('')}</table>`;
}

/** The metric a slice chart shows: the first of these the report has. */
function headline(r: EvaluationReport): string {
  return ['accuracy', 'rmse'].find((m) => m in r.metrics) ?? Object.keys(r.metrics)[0] ?? 'accuracy';
}

function sliceCard(r: EvaluationReport, s: SliceReport, metric: string): string {
  const bars = s.groups.map((g) => ({ label: g.value, value: g.metrics[metric]?.value ?? Number.NaN, lower: g.metrics[metric]?.lower, upper: g.metrics[metric]?.upper, note: `${g.rows.toLocaleString('en-US')} rows` }))
    .filter((b) => Number.isFinite(b.value));
  const overall = r.metrics[metric];
  return `<section class="card"><h3>${esc(metric)} by ${esc(s.column)} <span class="note">(${s.kind === 'quantiles' ? 'quantile buckets' : 'categories'}; overall ${num(overall?.value)})</span></h3>${barsSvg(bars, `${metric} by ${s.column}`)}</section>`;
}

export function evaluationHtml(r: EvaluationReport, title = `Evaluation: ${r.target}`): string {
  const facts = [`${r.task} model`, `${r.rows.toLocaleString('en-US')} labelled rows`];
  if (r.positiveClass !== undefined) facts.push(`positive class '${r.positiveClass}' at threshold ${r.threshold}`);
  if (r.bootstrap) facts.push(`${Math.round(r.bootstrap.level * 100)}% intervals from ${r.bootstrap.samples} bootstrap resamples (seed ${r.bootstrap.seed}, ${r.bootstrap.method})`);
  const parts = [`<p>${esc(facts.join(' · '))}.</p>`];
  if (r.notes.length) parts.push(`<ul class="note">${r.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>`);
  const cards = [`<section class="card"><h2>Metrics</h2>${metricsTable(r)}</section>`];
  if (r.calibration) cards.push(`<section class="card"><h2>Calibration (${esc(r.calibration.kind)}, ${r.calibration.bins} bins)</h2>${calibrationSvg(r)}</section>`);
  if (r.confusionMatrix) cards.push(`<section class="card"><h2>Confusion matrix</h2>${confusionTable(r)}<h3>Per class</h3>${perClassTable(r)}</section>`);
  parts.push(`<div class="grid">${cards.join('\n')}</div>`);
  if (r.slices.length) {
    const metric = headline(r);
    parts.push(`<h2>Slices</h2><div class="grid">${r.slices.map((s) => sliceCard(r, s, metric)).join('\n')}</div>`);
  }
  return page(title, parts.join('\n'));
}
