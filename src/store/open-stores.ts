/**
 * The composition root for storage: the one place a URI becomes an adapter. Heavy drivers are
 * imported only when their scheme is used, so the embedded default never loads `pg`.
 *
 *   sqlite:<path>          embedded metadata (default: $TRELLIS_HOME/trellis.db, or ./.trellis/trellis.db)
 *   postgres://…           shared metadata for several servers and workers
 *   file:<path>            local content-addressed artifacts (default: $TRELLIS_HOME/artifacts)
 *   s3://bucket/prefix     the same artifacts in S3 or an S3-compatible store (docs/storage.md)
 */
import { dirname, resolve } from 'node:path';
import { TrellisError } from '../core/errors.js';
import type { ArtifactStore } from './artifact-store.js';
import type { SqlStoresOptions } from './sql/sql-stores.js';
import type { Stores } from './stores.js';

export function trellisHome(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.TRELLIS_HOME || '.trellis');
}

export function defaultStoreUri(env: NodeJS.ProcessEnv = process.env): string {
  return env.TRELLIS_STORE_URI || `sqlite:${resolve(trellisHome(env), 'trellis.db')}`;
}

export function defaultArtifactsUri(env: NodeJS.ProcessEnv = process.env): string {
  return env.TRELLIS_ARTIFACTS_URI || `file:${resolve(trellisHome(env), 'artifacts')}`;
}

/**
 * The key that signs a store's audit checkpoints (see `audit-signing.ts`): `TRELLIS_AUDIT_KEY_FILE`,
 * else beside a SQLite database (in its folder, so every command on that store, from whatever
 * folder, signs with one key), else under `$TRELLIS_HOME` (a PostgreSQL store: every process
 * writing to it must be given the same key file).
 */
export function defaultAuditKeyFile(storeUri: string, env: NodeJS.ProcessEnv = process.env): string {
  const given = env.TRELLIS_AUDIT_KEY_FILE?.trim();
  if (given) return given;
  const db = storeUri.startsWith('sqlite:') ? sqlitePath(storeUri) : ':memory:';
  return resolve(db === ':memory:' ? trellisHome(env) : dirname(db), 'audit-signing.key');
}

/** `sqlite:rel/path`, `sqlite:/abs`, `sqlite:///abs` and `sqlite::memory:` all work. */
function sqlitePath(uri: string): string {
  const rest = uri.slice('sqlite:'.length);
  if (rest === ':memory:') return rest;
  const p = rest.startsWith('///') ? rest.slice(2) : rest.startsWith('//') ? rest.slice(2) : rest;
  if (!p) throw new TrellisError('TRELLIS_STORE_URI_INVALID', { uri, detail: 'no file path after sqlite:' });
  return resolve(p);
}

/** Every metadata port over the database the URI names (`sqlite:` or `postgres://`). */
export async function openStores(uri: string, opts: SqlStoresOptions = {}): Promise<Stores> {
  const { openSqlStores } = await import('./sql/sql-stores.js');
  if (uri.startsWith('sqlite:')) {
    const { SqliteDriver } = await import('./sqlite/sqlite-driver.js');
    return openSqlStores(SqliteDriver.open(sqlitePath(uri)), opts);
  }
  if (uri.startsWith('postgres://') || uri.startsWith('postgresql://')) {
    const { PostgresDriver } = await import('./postgres/postgres-driver.js');
    return openSqlStores(await PostgresDriver.open(uri), opts);
  }
  throw new TrellisError('TRELLIS_STORE_URI_INVALID', { uri, detail: 'the scheme must be sqlite: or postgres://' });
}

export async function openArtifactStore(uri: string): Promise<ArtifactStore> {
  if (uri.startsWith('file:')) {
    const rest = uri.slice('file:'.length);
    const p = rest.startsWith('//') ? rest.replace(/^\/\/[^/]*/, '') : rest;
    if (!p) throw new TrellisError('TRELLIS_STORE_URI_INVALID', { uri, detail: 'no directory after file:' });
    const [{ ContentAddressedStore }, { FsBlobStore }] = await Promise.all([import('./cas/cas-artifact-store.js'), import('./fs/fs-blob-store.js')]);
    return new ContentAddressedStore(await FsBlobStore.open(resolve(p)));
  }
  if (uri.startsWith('s3://')) {
    // The AWS SDK loads here, and only here: a file: workspace never pays for it. Its notice that
    // SDK releases after January 2027 need Node 22 says nothing about the release Trellis pins, so
    // it is off unless the user set the variable themselves.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    const [{ ContentAddressedStore }, { S3BlobStore }] = await Promise.all([import('./cas/cas-artifact-store.js'), import('./s3/s3-blob-store.js')]);
    return new ContentAddressedStore(await S3BlobStore.open(uri));
  }
  throw new TrellisError('TRELLIS_STORE_URI_INVALID', { uri, detail: 'the scheme must be file: or s3://' });
}
