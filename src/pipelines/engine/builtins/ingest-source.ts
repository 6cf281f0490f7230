/**
 * The `ingest` built-in reading from a source URI (s3://, https://, postgres:// or mysql:// with
 * its `query`): the source is read into a snapshot as `trellis data add --from` reads it, and the
 * snapshot is handed on as the step's Dataset. The output records the source without secrets, the
 * query and the snapshot's sha256; the step's output artifact keeps the rows as they were read.
 */
import { createHash, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { readTable } from '../../../data/readers/index.js';
import { redactSource, snapshotSource, withSnapshotDir, type ProgressFn } from '../../../data/sources/index.js';
import { writeDataset } from './io.js';

export interface IngestIo {
  /** Where the Dataset output is written. */
  out: string;
  log: (line: string) => void;
  setOutputMeta: (meta: Record<string, string>) => void;
  metric: (name: string, value: number) => void;
}

export async function ingestSource(uri: string, query: string | undefined, io: IngestIo): Promise<void> {
  await withSnapshotDir(async (dir) => {
    const snap = await snapshotSource(uri, { query, dir, onProgress: logProgress(io.log) });
    const table = await readTable(snap.file, { format: snap.format });
    await writeDataset(io.out, table);
    const sha256 = createHash('sha256').update(await readFile(snap.file)).digest('hex');
    io.log(`${snap.source}${snap.query !== undefined ? ` (query: ${snap.query})` : ''}: ${table.rowCount} rows, ${table.columns.length} columns (snapshot sha256 ${sha256.slice(0, 12)}…)`);
    io.setOutputMeta({ file: snap.source, ...(snap.query !== undefined ? { query: snap.query } : {}), sha256 });
    io.metric('rows', table.rowCount);
  });
}

/**
 * What the cache key of an ingest from a source depends on: the source can change at any time
 * (a table gets new rows), so each run reads it again — the key holds a fresh nonce.
 */
export function sourceCacheFacts(uri: string, query: string | undefined): Record<string, string> {
  return { source: redactSource(uri), ...(query !== undefined ? { query } : {}), read: randomUUID() };
}

function logProgress(log: (line: string) => void): ProgressFn {
  let last = Date.now();
  return (p) => {
    if (p.done || Date.now() - last < 5000) return;
    last = Date.now();
    if (p.rows !== undefined) log(`read ${p.rows} rows so far`);
    else if (p.bytes !== undefined) log(`read ${p.bytes} bytes so far`);
  };
}
