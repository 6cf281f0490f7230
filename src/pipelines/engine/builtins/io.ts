/** How built-ins hand data to each other: Datasets as CSV files, Models as a folder holding `model.json`, Metrics and Reports as JSON. */
import { existsSync, statSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { invalid } from '../../../core/errors.js';
import { readTable } from '../../../data/readers/index.js';
import { valueAt, type CellValue, type Table } from '../../../data/table.js';
import { loadModel, type TrellisModel } from '../../../ml/model.js';

function csvCell(v: CellValue | undefined): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\n\r]/.test(s) || s !== s.trim() ? `"${s.replace(/"/g, '""')}"` : s;
}

export function tableCsv(t: Table): string {
  const lines = [t.columns.map((c) => csvCell(c.name)).join(',')];
  for (let i = 0; i < t.rowCount; i++) lines.push(t.columns.map((c) => csvCell(valueAt(c, i))).join(','));
  return `${lines.join('\n')}\n`;
}

export async function writeDataset(path: string, t: Table): Promise<void> {
  await writeFile(path, tableCsv(t));
}

export async function readDataset(path: string): Promise<Table> {
  return readTable(path, { format: 'csv' });
}

export async function writeModel(dir: string, model: TrellisModel): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'model.json'), JSON.stringify(model));
}

/** A Model artifact: a folder with `model.json` (what built-ins write), or the document itself. */
export async function readModel(path: string): Promise<TrellisModel> {
  const file = statSync(path).isDirectory() ? join(path, 'model.json') : path;
  if (!existsSync(file)) throw invalid(`the Model input at ${path} holds no model.json`);
  return loadModel(await readFile(file));
}

export async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFile(path, `${JSON.stringify(value, null, 2)}\n`);
}

export async function readJson(path: string, what: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw invalid(`the ${what} input is not JSON: ${(e as Error).message}`);
  }
}

/** A Metrics artifact: an object of name → finite number. */
export async function readMetrics(path: string): Promise<Record<string, number>> {
  const v = await readJson(path, 'Metrics');
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw invalid('a Metrics input must be a JSON object of name → number');
  const out: Record<string, number> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (typeof x === 'number' && Number.isFinite(x)) out[k] = x;
  return out;
}
