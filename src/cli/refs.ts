/** Arguments shared by the model commands: a model version or a dataset by reference, lists, numbers, output files. */
import { extname } from 'node:path';
import { invalid } from '../core/errors.js';
import { loadModel, type TrellisModel } from '../ml/model.js';
import type { ModelVersion } from '../store/ports/registry.js';
import type { Workspace } from '../workspace/workspace.js';

/**
 * A registered model version by reference — `name@alias`, `name@3`, `name@v3`, `name@latest` or
 * `name/3` (see `core/refs.ts`) — with its model document, checked against the digest recorded
 * when the version was created.
 */
export async function loadModelRef(ws: Workspace, ref: string): Promise<{ model: TrellisModel; name: string; version: string; modelVersion: ModelVersion }> {
  const v = await ws.registry.resolve(ref);
  const model = loadModel(await ws.registry.readVersionFile(v, 'model.json'));
  return { model, name: v.name, version: v.version, modelVersion: v };
}

/** `a,b --x c` → ['a', 'b', 'c'], without blanks. */
export function columnList(values: string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(',')).map((s) => s.trim()).filter(Boolean);
}

export function numberOption(name: string, raw: string | undefined, check: (n: number) => boolean, expected: string): number | undefined {
  if (raw === undefined) return undefined;
  const n = raw.trim() === '' ? Number.NaN : Number(raw);
  if (!Number.isFinite(n) || !check(n)) throw invalid(`--${name} must be ${expected}, got '${raw}'`);
  return n;
}

/** The file to write, checked before any work: `.html` or `.json`. */
export function outputKind(path: string | undefined): 'html' | 'json' | undefined {
  if (path === undefined) return undefined;
  const ext = extname(path).toLowerCase();
  if (ext === '.html' || ext === '.htm') return 'html';
  if (ext === '.json') return 'json';
  throw invalid(`--output must end in .html or .json, got '${path}'`);
}

export const fmt = (v: number | null | undefined) => (v === null || v === undefined || Number.isNaN(v) ? '' : Math.abs(v) >= 1000 ? v.toFixed(1) : v.toFixed(4));
