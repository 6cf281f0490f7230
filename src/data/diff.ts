/**
 * What changed between two dataset versions: rows, schema (columns added, removed, retyped) and,
 * per column, the statistics people look at, with the distribution distance between the two.
 */
import type { DatasetVersion } from '../store/ports/datasets.js';
import type { ColumnProfile, Profile } from './profile/profile.js';
import { DEFAULT_SKEW } from './schema/schema.js';
import { profileDistance, type Distance } from './validate/distances.js';

export interface StatChange {
  stat: string;
  a: number | null;
  b: number | null;
  /** b − a, when both exist. */
  delta: number | null;
}

export interface DatasetDiff {
  a: { name: string; version: number; sha256: string; rows: number };
  b: { name: string; version: number; sha256: string; rows: number };
  identical: boolean;
  schema: { added: string[]; removed: string[]; retyped: { column: string; from: string; to: string }[] };
  columns: { column: string; stats: StatChange[]; distance?: Distance }[];
}

function stats(c: ColumnProfile): Record<string, number | null> {
  const total = c.count + c.missing;
  return {
    missing_share: total ? c.missing / total : null,
    distinct: c.distinct,
    mean: c.numeric?.mean ?? null,
    std: c.numeric?.std ?? null,
    min: c.numeric?.min ?? null,
    max: c.numeric?.max ?? null,
    p50: c.numeric?.quantiles.p50 ?? null,
  };
}

export function diffVersions(a: DatasetVersion, b: DatasetVersion): DatasetDiff {
  const pa = a.profile as Profile;
  const pb = b.profile as Profile;
  const ca = new Map(pa.columns.map((c) => [c.name, c]));
  const cb = new Map(pb.columns.map((c) => [c.name, c]));
  const diff: DatasetDiff = {
    a: { name: a.name, version: a.version, sha256: a.sha256, rows: a.rows },
    b: { name: b.name, version: b.version, sha256: b.sha256, rows: b.rows },
    identical: a.sha256 === b.sha256,
    schema: {
      added: [...cb.keys()].filter((n) => !ca.has(n)),
      removed: [...ca.keys()].filter((n) => !cb.has(n)),
      retyped: [...ca].filter(([n, c]) => cb.has(n) && cb.get(n)!.type !== c.type).map(([n, c]) => ({ column: n, from: c.type, to: cb.get(n)!.type })),
    },
    columns: [],
  };
  for (const [name, x] of ca) {
    const y = cb.get(name);
    if (!y) continue;
    const sa = stats(x);
    const sb = stats(y);
    const changes: StatChange[] = Object.keys(sa).map((stat) => {
      const va = sa[stat] ?? null;
      const vb = sb[stat] ?? null;
      return { stat, a: va, b: vb, delta: va !== null && vb !== null ? vb - va : null };
    }).filter((s) => s.a !== null || s.b !== null);
    const entry: DatasetDiff['columns'][number] = { column: name, stats: changes };
    if (x.type === y.type) {
      const d = profileDistance(y, x, DEFAULT_SKEW);
      if (d) entry.distance = d;
    }
    diff.columns.push(entry);
  }
  return diff;
}

export function formatDiff(d: DatasetDiff): string {
  const lines = [`${d.a.name}@${d.a.version} → ${d.b.name}@${d.b.version}${d.identical ? ' (identical content)' : ''}`];
  lines.push(`  rows: ${d.a.rows} → ${d.b.rows} (${d.b.rows - d.a.rows >= 0 ? '+' : ''}${d.b.rows - d.a.rows})`);
  if (d.schema.added.length) lines.push(`  columns added: ${d.schema.added.join(', ')}`);
  if (d.schema.removed.length) lines.push(`  columns removed: ${d.schema.removed.join(', ')}`);
  for (const r of d.schema.retyped) lines.push(`  column ${r.column}: type ${r.from} → ${r.to}`);
  const fmt = (v: number | null) => (v === null ? '—' : Number.isInteger(v) ? String(v) : v.toPrecision(4));
  for (const c of d.columns) {
    const changed = c.stats.filter((s) => s.delta !== 0);
    if (!changed.length && (!c.distance || c.distance.value === 0)) continue;
    const dist = c.distance ? `  [${c.distance.measure} ${c.distance.value.toFixed(4)}]` : '';
    lines.push(`  ${c.column}:${dist} ${changed.map((s) => `${s.stat} ${fmt(s.a)} → ${fmt(s.b)}`).join(', ')}`);
  }
  return lines.join('\n');
}
