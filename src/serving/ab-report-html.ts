/**
 * The A/B report as one self-contained HTML page: the routes' figures as a table and bar charts,
 * the sample-ratio check, the sequential tests, and requests and error rate over time as inline
 * SVG line charts. No scripts and no network, like the evaluation and profile reports whose
 * drawing pieces it shares.
 */
import { barsSvg, esc, interval, num, page, type Bar } from '../ml/report/html.js';
import type { AbReport, AbSeries, TestReport } from './ab-report.js';

const COLOURS = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#b279a2', '#ff9da6', '#9d755d'];
const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
const iso = (ms: number) => `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')}Z`;

/** One line per route over the series' buckets; a null value (no requests) breaks the line. */
function linesSvg(series: AbSeries, values: (r: AbSeries['routes'][number]) => (number | null)[], label: string, format: (v: number) => string): string {
  const w = 560;
  const h = 180;
  const pad = { left: 48, right: 8, top: 8, bottom: 22 };
  const lines = series.routes.map((r) => ({ route: r.route, v: values(r) }));
  const n = Math.max(1, ...lines.map((l) => l.v.length));
  const max = Math.max(1e-12, ...lines.flatMap((l) => l.v.filter((x): x is number => x !== null)));
  const sx = (i: number) => pad.left + (n === 1 ? 0.5 : i / (n - 1)) * (w - pad.left - pad.right);
  const sy = (v: number) => h - pad.bottom - (v / max) * (h - pad.top - pad.bottom);
  const paths = lines.map((l, k) => {
    let d = '';
    let pen = false;
    l.v.forEach((v, i) => {
      if (v === null) { pen = false; return; }
      d += `${pen ? 'L' : 'M'}${sx(i).toFixed(1)},${sy(v).toFixed(1)}`;
      pen = true;
    });
    const colour = COLOURS[k % COLOURS.length]!;
    const dots = l.v.length === 1 && l.v[0] !== null ? `<circle cx="${sx(0).toFixed(1)}" cy="${sy(l.v[0]!).toFixed(1)}" r="2.5" fill="${colour}"/>` : '';
    return `<path d="${d}" fill="none" stroke="${colour}" stroke-width="1.5"><title>${esc(l.route)}</title></path>${dots}`;
  }).join('');
  const end = series.start + (n - 1) * series.bucketMs;
  const axes = `<line x1="${pad.left}" y1="${h - pad.bottom}" x2="${w - pad.right}" y2="${h - pad.bottom}" stroke="#999"/><line x1="${pad.left}" y1="${pad.top}" x2="${pad.left}" y2="${h - pad.bottom}" stroke="#999"/>` +
    `<text x="${pad.left - 4}" y="${pad.top + 8}" font-size="9" text-anchor="end">${esc(format(max))}</text><text x="${pad.left - 4}" y="${h - pad.bottom}" font-size="9" text-anchor="end">0</text>` +
    `<text x="${pad.left}" y="${h - 6}" font-size="9">${esc(iso(series.start))}</text><text x="${w - pad.right}" y="${h - 6}" font-size="9" text-anchor="end">${esc(iso(end))}</text>`;
  const legend = lines.map((l, k) => `<span style="color:${COLOURS[k % COLOURS.length]}">■</span> ${esc(l.route)}`).join(' &nbsp; ');
  return `<svg role="img" aria-label="${esc(label)}" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">${axes}${paths}</svg><div class="note">${legend}</div>`;
}

function testRow(control: string, treatment: string, t: TestReport): string {
  const what = t.on === 'squared_error' ? 'squared error (RMSE)' : t.on.replace('_', ' ');
  const r = t.test;
  const decision = r.decision === 'significant' ? `<span class="flag">significant</span>: ${esc(t.better!)} is better` : `not yet${r.reason ? ` (${esc(r.reason)})` : ''}`;
  return `<tr><td>${esc(treatment)} − ${esc(control)}</td><td>${esc(what)}</td><td class="n">${num(r.difference)}</td><td class="n">${r.ci ? interval(r.ci.lower, r.ci.upper) : '–'}</td>` +
    `<td class="n">${num(r.pValue)}</td><td class="n">${num(r.alpha)}</td><td>${decision}</td></tr>`;
}

export function abReportHtml(r: AbReport): string {
  const routesTable = `<table><tr><th>route</th><th>models</th><th>share</th><th>requests</th><th>errors</th><th>error rate</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>labelled</th><th>metric</th></tr>${
    r.routes.map((x) => `<tr><td>${esc(x.route)}</td><td>${esc(x.models.join(', ') || '–')}</td><td class="n">${x.share === undefined ? '–' : `${x.share}%`}</td>` +
      `<td class="n">${num(x.requests)}</td><td class="n">${num(x.errors)}</td><td class="n">${pct(x.errorRate)}</td>` +
      `<td class="n">${num(x.latency?.p50)}</td><td class="n">${num(x.latency?.p95)}</td><td class="n">${num(x.latency?.p99)}</td>` +
      `<td class="n">${num(x.labelled)}</td><td class="n">${x.metric ? `${x.metric.name} ${num(x.metric.value)}` : '–'}</td></tr>`).join('')}</table>`;
  const bars = (label: string, make: (x: AbReport['routes'][number]) => Bar | undefined) => {
    const list = r.routes.map(make).filter((b): b is Bar => b !== undefined);
    return list.length ? `<div class="card"><h3>${esc(label)}</h3>${barsSvg(list, label)}</div>` : '';
  };
  const charts = `<div class="grid">${
    bars('requests', (x) => ({ label: x.route, value: x.requests, ...(x.share !== undefined ? { note: `configured ${x.share}%` } : {}) }))}${
    bars('error rate', (x) => ({ label: x.route, value: x.errorRate, note: pct(x.errorRate) }))}${
    bars('p95 latency (ms)', (x) => (x.latency ? { label: x.route, value: x.latency.p95 } : undefined))}${
    bars(r.routes.find((x) => x.metric)?.metric?.name ?? 'metric', (x) => (x.metric ? { label: x.route, value: x.metric.value, note: `${x.labelled} labelled` } : undefined))}</div>`;
  const srm = r.srm
    ? `<p>χ² = ${num(r.srm.chiSquare)} with ${r.srm.df} degrees of freedom, p = ${num(r.srm.pValue)} over ${esc(r.srm.routes.join(', '))} ` +
      `(observed ${r.srm.observed.join(' / ')}, expected ${r.srm.expected.map((e) => num(e)).join(' / ')}): ` +
      `${r.srm.mismatch ? `<span class="flag">mismatch</span> (p &lt; ${r.srm.threshold})` : `no mismatch (threshold p &lt; ${r.srm.threshold})`}</p>`
    : '<p class="note">Not applicable: fewer than two routes split the traffic, or none was asked anything.</p>';
  const tests = r.comparisons.length
    ? `<table><tr><th>difference</th><th>on</th><th>estimate</th><th>always-valid interval</th><th>p</th><th>alpha</th><th>decision</th></tr>${
      r.comparisons.map((c) => (c.metric ? testRow(c.control, c.treatment, c.metric) : '') + testRow(c.control, c.treatment, c.errorRate)).join('')}</table>` +
      '<p class="note">Mixture sequential probability ratio tests (Johari et al., 2017): the p-values and intervals stay valid however often this report is looked at.</p>'
    : '<p class="note">Nothing to compare: one route answers.</p>';
  const minutes = r.series.bucketMs / 60_000;
  const per = minutes === 1 ? 'per minute' : `per ${minutes} minutes`;
  const timeline = r.series.routes.length
    ? `<div class="grid"><div class="card"><h3>requests ${per}</h3>${linesSvg(r.series, (s) => s.requests, `requests ${per}`, (v) => num(v))}</div>` +
      `<div class="card"><h3>error rate ${per}</h3>${linesSvg(r.series, (s) => s.requests.map((n, i) => (n > 0 ? s.errors[i]! / n : null)), `error rate ${per}`, pct)}</div></div>`
    : '<p class="note">No requests in the window.</p>';
  const notes = r.notes.length ? `<ul>${r.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : '';
  const body = `<p class="note">${esc(iso(r.since))} – ${esc(iso(r.until))} · ${r.kind === 'ab' ? 'A/B test' : r.kind === 'canary' ? 'canary against primary' : 'one route'}</p>${notes}` +
    `<h2>Routes</h2>${routesTable}${charts}<h2>Sample ratio</h2>${srm}<h2>Sequential tests</h2>${tests}<h2>Over time</h2>${timeline}`;
  return page(`A/B report: ${r.endpoint}`, body);
}
