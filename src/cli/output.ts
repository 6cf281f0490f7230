/** Tables for people, JSON for scripts. */

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 2)}\n`);
}

/** A table cell: scalars as they print, a list as its items joined, anything else as its JSON. */
function cell(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return v.map(cell).join(',');
  if (v instanceof Date) return v.toISOString();
  return JSON.stringify(v) ?? '';
}

export function formatTable(rows: Record<string, unknown>[], columns: string[]): string {
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join('\n');
}

export function printTable(rows: Record<string, unknown>[], columns: string[], empty = '(none)'): void {
  process.stdout.write(`${rows.length ? formatTable(rows, columns) : empty}\n`);
}

export function time(ms: number | undefined): string {
  return ms === undefined ? '' : new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/** Output for a command: `--json` prints `json()`, otherwise `human()` writes for people. */
export function output(json: boolean, data: () => unknown, human: () => void): void {
  if (json) printJson(data());
  else human();
}
