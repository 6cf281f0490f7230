/**
 * The fairness report as one self-contained HTML page: per sensitive column, the selection rate of
 * each group as bars with their intervals (small groups in the warning colour), the group metrics,
 * the gaps, and the flags.
 */
import type { Estimate, FairnessReport, SensitiveReport } from '../fairness.js';
import { barsSvg, esc, interval, num, page } from './html.js';

const cell = (e: Estimate) => `<td class="n">${num(e.value)}</td><td class="n note">${interval(e.lower, e.upper)}</td>`;

function columnSection(s: SensitiveReport): string {
  const bars = s.groups.map((g) => ({
    label: g.group, value: g.selectionRate.value ?? 0, lower: g.selectionRate.lower, upper: g.selectionRate.upper,
    note: `${g.size.toLocaleString('en-US')} rows`, flagged: g.small,
  }));
  const head = '<tr><th>group</th><th>size</th><th colspan="2">selection rate</th><th colspan="2">TPR</th><th colspan="2">FPR</th><th colspan="2">precision</th><th colspan="2">accuracy</th></tr>';
  const rows = s.groups.map((g) => `<tr><th${g.small ? ' class="flag" title="below the minimum group size: not compared"' : ''}>${esc(g.group)}</th><td class="n">${g.size.toLocaleString('en-US')}</td>${cell(g.selectionRate)}${cell(g.tpr)}${cell(g.fpr)}${cell(g.precision)}${cell(g.accuracy)}</tr>`);
  const gaps: [string, Estimate][] = [
    ['demographic parity difference', s.demographicParityDifference], ['demographic parity ratio', s.demographicParityRatio],
    ['equalised odds difference', s.equalizedOddsDifference], ['equal opportunity difference', s.equalOpportunityDifference],
  ];
  const gapRows = gaps.map(([k, e]) => `<tr><th>${k}</th>${cell(e)}</tr>`).join('');
  const flags = s.flags.map((f) => `<li${/violated|below the minimum/.test(f) ? ' class="flag"' : ''}>${esc(f)}</li>`).join('');
  return `<section class="card"><h2>${esc(s.column)} <span class="note">(${s.kind === 'quantiles' ? 'quantile buckets' : 'categories'})</span></h2>
<h3>Selection rate by group</h3>${barsSvg(bars, `selection rate by ${s.column}`)}
<table>${head}${rows.join('')}</table>
<h3>Gaps between compared groups</h3><table>${gapRows}</table>
<ul>${flags}</ul></section>`;
}

export function fairnessHtml(r: FairnessReport, title = `Fairness: ${r.target}`): string {
  const facts = [`${r.rows.toLocaleString('en-US')} labelled rows`, `positive outcome '${r.positiveClass}' at threshold ${r.threshold}`, `groups under ${r.minGroupSize} rows are not compared`];
  if (r.bootstrap) facts.push(`${Math.round(r.bootstrap.level * 100)}% intervals from ${r.bootstrap.samples} bootstrap resamples (seed ${r.bootstrap.seed}, ${r.bootstrap.method})`);
  const notes = r.notes.length ? `<ul class="note">${r.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : '';
  return page(title, `<p>${esc(facts.join(' · '))}.</p>${notes}\n<div class="grid">${r.columns.map(columnSection).join('\n')}</div>`);
}
