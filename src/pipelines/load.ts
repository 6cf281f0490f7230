/**
 * Reading a pipeline file: JSON or YAML text, or a module whose default export is a pipeline (made
 * with the SDK's `pipeline()`); `.ts` modules load through tsx. Used by the CLI and by packaging.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { invalid, TrellisError } from '../core/errors.js';
import { parsePipelineSource, validatePipeline, type PipelineSource } from './ir.js';

const TEXT = /\.(json|ya?ml)$/i;
const MODULE = /\.(ts|mts|cts|js|mjs|cjs)$/i;
const TYPESCRIPT = /\.(ts|mts|cts)$/i;

/** A pipeline as read from its file; `locate` is there for text only. */
export type LoadedPipeline = Omit<PipelineSource, 'locate'> & { locate?: PipelineSource['locate'] };

export async function loadPipelineFile(file: string): Promise<LoadedPipeline> {
  const path = resolve(file);
  if (!existsSync(path)) throw invalid(`No pipeline file at '${file}'`);
  if (TEXT.test(path)) return parsePipelineSource(await readFile(path, 'utf8'), file);
  if (!MODULE.test(path)) throw invalid(`'${file}' is not a pipeline file: expected .json, .yaml, .yml, .ts or .js`);
  const mod = await importModule(path, file);
  let value = mod.default;
  // Loaded as CommonJS (no "type": "module" beside it), a module comes back as its exports object.
  if (value && typeof value === 'object' && (value as { __esModule?: unknown }).__esModule === true) value = (value as { default?: unknown }).default;
  if (value === undefined) {
    throw new TrellisError('TRELLIS_PIPELINE_INVALID', { source: file, detail: 'the module has no default export; write `export default pipeline(…)`' });
  }
  return { ir: validatePipeline(value, file), sourceName: file };
}

async function importModule(path: string, file: string): Promise<Record<string, unknown>> {
  const url = pathToFileURL(path).href;
  try {
    if (!TYPESCRIPT.test(path)) return (await import(url)) as Record<string, unknown>;
    let api: typeof import('tsx/esm/api');
    try {
      api = await import('tsx/esm/api');
    } catch {
      throw invalid(`'${file}' is TypeScript, which needs the 'tsx' package next to Trellis: install it (npm install tsx) or compile the pipeline to .js`);
    }
    return (await api.tsImport(url, import.meta.url)) as Record<string, unknown>;
  } catch (e) {
    const err = e as Error & { code?: string; params?: Record<string, string> };
    // A module may load its own copy of Trellis (a distinct TrellisError class): keep its code.
    if (err?.name === 'TrellisError' && typeof err.code === 'string') throw TrellisError.fromJSON({ code: err.code, message: err.message, params: err.params });
    const detail = err?.name === 'TransformError' ? `does not compile: ${err.message.replace(/^Transform failed with \d+ errors?:\n/, '')}` : `failed to load: ${err?.message ?? String(e)}`;
    throw new TrellisError('TRELLIS_PIPELINE_INVALID', { source: file, detail }, { cause: e });
  }
}
