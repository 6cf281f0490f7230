/**
 * One reference syntax for model versions and dataset versions, read the same way by the CLI, the
 * REST API, the SDK and the engines:
 *
 * - `name@3` or `name@v3` — a version number; `name/3` (or `name/v3`) is the same;
 * - `name@latest` (or `name/latest`) — the newest version;
 * - `name@champion` — the version an alias points at (models only: datasets have no aliases);
 * - `name` alone — the dataset's newest version; a model name alone names no version.
 *
 * A name may hold a `/` (`team/churn@3`; `a/b` is a name, `a/3` version 3 of `a`). The errors name what was wrong:
 * the reference that does not parse, the model or dataset that does not exist, the version or the
 * alias it does not have (with the ones it has).
 */
import { TrellisError, invalid } from './errors.js';

export type RefKind = 'model' | 'dataset';

export type RefSelector =
  | { kind: 'version'; version: number }
  | { kind: 'alias'; alias: string }
  | { kind: 'latest' };

export interface ParsedRef {
  name: string;
  /** Undefined for a bare name. */
  selector?: RefSelector;
}

const FORMS = 'use name@version, name@alias or name/version';

function notARef(ref: string, why?: string): TrellisError {
  return invalid(`'${ref}' is not a reference${why ? ` (${why})` : ''}: ${FORMS}`);
}

function selectorOf(ref: string, tag: string): RefSelector {
  const number = /^v?(\d+)$/i.exec(tag)?.[1];
  if (number !== undefined) {
    if (Number(number) < 1) throw notARef(ref, 'a version is a positive number');
    return { kind: 'version', version: Number(number) };
  }
  if (tag === 'latest') return { kind: 'latest' };
  if (/\s/.test(tag)) throw notARef(ref, 'an alias has no spaces');
  return { kind: 'alias', alias: tag };
}

/**
 * `name@version`, `name@alias`, `name@latest`, `name/version` or a bare `name` (see the module
 * comment). Throws an invalid-parameter error naming the reference when it does not parse.
 */
export function parseRef(ref: string): ParsedRef {
  if (typeof ref !== 'string' || !ref.trim()) throw invalid(`a reference is empty: ${FORMS}`);
  const s = ref.trim();
  const ats = s.split('@').length - 1;
  if (ats > 1) throw notARef(s);
  if (ats === 1) {
    const at = s.indexOf('@');
    const name = s.slice(0, at);
    const tag = s.slice(at + 1);
    if (!name) throw notARef(s, 'the name before @ is missing');
    if (!tag) throw notARef(s, 'nothing follows the @');
    if (name.endsWith('/')) throw notARef(s);
    return { name, selector: selectorOf(s, tag) };
  }
  // `name/3` and `name/latest`; after any other slash the whole is a name (a path is not a version).
  const slash = s.lastIndexOf('/');
  const name = s.slice(0, slash);
  const tag = s.slice(slash + 1);
  if (slash < 0 || !(/^v?\d+$/i.test(tag) || tag === 'latest')) return { name: s };
  if (!name) throw notARef(s);
  return { name, selector: selectorOf(s, tag) };
}

/** {@link parseRef} for a version of a model: a bare name is refused with the forms to write instead. */
export function parseModelRef(ref: string): ParsedRef & { selector: RefSelector } {
  const p = parseRef(ref);
  if (!p.selector) throw invalid(`'${p.name}' names a model, not one of its versions: write ${p.name}@<version>, ${p.name}@<alias>, ${p.name}@latest or ${p.name}/<version>`);
  return p as ParsedRef & { selector: RefSelector };
}

/** {@link parseRef} for a version of a dataset: a bare name is its newest version; an alias is refused. */
export function parseDataRef(ref: string): { name: string; version?: number } {
  const p = parseRef(ref);
  if (p.selector?.kind === 'alias') {
    throw invalid(`no alias '${p.selector.alias}' on dataset '${p.name}': dataset versions are named by number (${p.name}@1, ${p.name}/1) or ${p.name}@latest`);
  }
  return { name: p.name, version: p.selector?.kind === 'version' ? p.selector.version : undefined };
}

/** The reference as Trellis prints it: `name@3`, `name@champion`, `name@latest`, or the name. */
export function formatRef(p: ParsedRef): string {
  const s = p.selector;
  if (!s) return p.name;
  return `${p.name}@${s.kind === 'version' ? s.version : s.kind === 'alias' ? s.alias : 'latest'}`;
}

/** For a name with a slash that was not found: how a version or an alias would have been written. */
function slashHint(name: string): string {
  const slash = name.lastIndexOf('/');
  if (slash <= 0 || !/^[A-Za-z_][\w-]*$/.test(name.slice(slash + 1))) return '';
  const head = name.slice(0, slash);
  return ` (a version is written ${head}/<number> or ${head}@<number>, an alias ${head}@${name.slice(slash + 1)})`;
}

const list = (items: readonly (string | number)[], max = 10) =>
  items.length > max ? `${items.slice(0, max).join(', ')}, … (${items.length} in all)` : items.join(', ');

/** The not-found errors of a reference, with the codes the stores use and a message that names what is missing. */
export const refErrors = {
  noModel: (name: string) => new TrellisError('TRELLIS_MODEL_NOT_FOUND', { name }, { message: `no model '${name}'${slashHint(name)}` }),
  noModelVersion: (name: string, version: string | number, versions: readonly (string | number)[]) => new TrellisError(
    'TRELLIS_MODEL_VERSION_NOT_FOUND', { name, version: String(version) },
    { message: `no version ${version} of model '${name}'${versions.length ? ` (versions: ${list(versions)})` : ' (it has no versions)'}` },
  ),
  noAlias: (name: string, alias: string, aliases: readonly string[]) => new TrellisError(
    'TRELLIS_ALIAS_NOT_FOUND', { name, alias },
    { message: `no alias '${alias}' on model '${name}' (${aliases.length ? `aliases: ${list(aliases)}` : 'it has no aliases'})` },
  ),
  noDataset: (name: string) => new TrellisError('TRELLIS_DATASET_NOT_FOUND', { name }, { message: `Dataset '${name}' not found${slashHint(name)}` }),
  noDatasetVersion: (name: string, version: string | number, versions: readonly number[]) => new TrellisError(
    'TRELLIS_DATASET_VERSION_NOT_FOUND', { name, version: String(version) },
    { message: `no version ${version} of dataset '${name}'${versions.length ? ` (versions: ${list(versions)})` : ' (it has no versions)'}` },
  ),
};
