/**
 * The composition root for storage: the one place a URI becomes an adapter. Heavy drivers are
 * imported only when their scheme is used, so the embedded default never loads `pg`.
 *
 *   sqlite:<path>          embedded metadata (default: $TRELLIS_HOME/trellis.db, or ./.trellis/trellis.db)
 *   postgres://…           shared metadata for several servers and workers
 *   file:<path>            local content-addressed artifacts (default: $TRELLIS_HOME/artifacts)
 */
import { resolve } from 'node:path';
import { TrellisError } from '../core/errors.js';
import type { ArtifactStore } from './artifact-store.js';
import type { MetadataStore } from './metadata-store.js';
import type { SqlMetadataStoreOptions } from './sql/sql-metadata-store.js';

export function trellisHome(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.TRELLIS_HOME || '.trellis');
}

export function defaultStoreUri(env: NodeJS.ProcessEnv = process.env): string {
  return env.TRELLIS_STORE_URI || `sqlite:${resolve(trellisHome(env), 'trellis.db')}`;
}

export function defaultArtifactsUri(env: NodeJS.ProcessEnv = process.env): string {
  return env.TRELLIS_ARTIFACTS_URI || `file:${resolve(trellisHome(env), 'artifacts')}`;
}

/** `sqlite:rel/path`, `sqlite:/abs`, `sqlite:///abs` and `sqlite::memory:` all work. */
function sqlitePath(uri: string): string {
  const rest = uri.slice('sqlite:'.length);
  if (rest === ':memory:') return rest;
  const p = rest.startsWith('///') ? rest.slice(2) : rest.startsWith('//') ? rest.slice(2) : rest;
  if (!p) throw new TrellisError('TRELLIS_STORE_URI_INVALID', { uri, detail: 'no file path after sqlite:' });
  return resolve(p);
}

export async function openMetadataStore(uri: string, opts: SqlMetadataStoreOptions = {}): Promise<MetadataStore> {
  const { SqlMetadataStore } = await import('./sql/sql-metadata-store.js');
  if (uri.startsWith('sqlite:')) {
    const { SqliteDriver } = await import('./sqlite/sqlite-driver.js');
    return SqlMetadataStore.open(SqliteDriver.open(sqlitePath(uri)), opts);
  }
  if (uri.startsWith('postgres://') || uri.startsWith('postgresql://')) {
    const { PostgresDriver } = await import('./postgres/postgres-driver.js');
    return SqlMetadataStore.open(await PostgresDriver.open(uri), opts);
  }
  throw new TrellisError('TRELLIS_STORE_URI_INVALID', { uri, detail: 'the scheme must be sqlite: or postgres://' });
}

export async function openArtifactStore(uri: string): Promise<ArtifactStore> {
  if (uri.startsWith('file:')) {
    const rest = uri.slice('file:'.length);
    const p = rest.startsWith('//') ? rest.replace(/^\/\/[^/]*/, '') : rest;
    if (!p) throw new TrellisError('TRELLIS_STORE_URI_INVALID', { uri, detail: 'no directory after file:' });
    const { FsArtifactStore } = await import('./fs/fs-artifact-store.js');
    return FsArtifactStore.open(resolve(p));
  }
  throw new TrellisError('TRELLIS_STORE_URI_INVALID', { uri, detail: 'the scheme must be file:' });
}
