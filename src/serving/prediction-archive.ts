/**
 * The history of the prediction log: entries older than a cutoff moved from the SQL table into
 * Parquet files in the artifact store, and read back beside the table's rows when a query reaches
 * back that far.
 *
 * Layout: `predictions/<endpoint>/<yyyy>/<mm>/<dd>/<first>-<last>-<sha8>.parquet`, one file per
 * endpoint and UTC day per archive run; `first` and `last` are the times (ms since the epoch) of
 * its first and last entry, `sha8` the start of the content's sha256. One row per entry, in the
 * table's order (time, request id, route), with every field: request_id, time (TIMESTAMP_MILLIS),
 * endpoint, model, version, route, shadow, latency_ms, inputs, predictions, classes, proba, error
 * and labels — the lists as JSON text, absent values as nulls.
 *
 * Nothing is lost on a crash: a day's file is written, read back and compared entry by entry
 * before those entries (by their exact keys) are deleted from the table. A crash leaves them in the
 * table, in a complete file, or in both; readers keep one entry per (endpoint, request id, route),
 * and the next run archives whatever is still in the table into a new file.
 *
 * Labels are written into the file as they stand when it is written, and stay in the labels table;
 * on read the table's labels win, so feedback given while a day is being archived is kept. Feedback
 * needs the request in the table: once archived, a request takes no new labels
 * (TRELLIS_PREDICTION_NOT_FOUND), so archive after feedback has come (a week, by default).
 */
import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { TrellisError } from '../core/errors.js';
import { readParquet } from '../data/readers/parquet.js';
import { makeTable, sliceRows, type Column, type NumericColumn, type StringColumn, type Table } from '../data/table.js';
import { parquetEncoder } from '../data/writers/parquet.js';
import type { ArtifactStore } from '../store/artifact-store.js';
import type { LabelledEntry, PredictionLog, PredictionQuery } from '../store/ports/predictions.js';

export const ARCHIVE_ROOT = 'predictions';
/** Entries read from the table per query while archiving, and rows per Parquet row group. */
const PAGE = 10_000;
/** Decoded files kept in memory: an export pages through a day's file many times. */
const CACHED_FILES = 4;
const DAY_MS = 86_400_000;
const FILE_RE = /^(\d+)-(\d+)-([0-9a-f]{8})\.parquet$/;
const ENDPOINT_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

type Labels = (string | number | null)[];

export interface ArchiveFile {
  path: string;
  /** Times of the file's first and last entry. */
  first: number;
  last: number;
}

/** One file an archive run wrote, and how many entries it took out of the table. */
export interface ArchivedDay {
  endpoint: string;
  /** The UTC day, `yyyy-mm-dd`. */
  day: string;
  path: string;
  entries: number;
  /** Entries deleted from the table (fewer than `entries` when another run had taken some already). */
  removed: number;
  bytes: number;
}

/** `yyyy/mm/dd` of a time, UTC. */
function dayPath(time: number): string {
  return new Date(time).toISOString().slice(0, 10).replace(/-/g, '/');
}

const keyOf = (e: { requestId: string; route: string }): string => `${e.requestId}\u0000${e.route}`;

/** The table's order: time, then request id, then route. */
export function compareEntries(a: LabelledEntry, b: LabelledEntry): number {
  if (a.time !== b.time) return a.time - b.time;
  if (a.requestId !== b.requestId) return a.requestId < b.requestId ? -1 : 1;
  return a.route < b.route ? -1 : a.route > b.route ? 1 : 0;
}

function isAfter(e: LabelledEntry, after: NonNullable<PredictionQuery['after']>): boolean {
  return compareEntries(e, { ...e, time: after.time, requestId: after.requestId, route: after.route }) > 0;
}

function strings(name: string, values: readonly (string | null)[]): StringColumn {
  const dictionary = new Map<string, number>();
  const codes = new Int32Array(values.length);
  values.forEach((v, i) => {
    if (v === null) { codes[i] = -1; return; }
    let code = dictionary.get(v);
    if (code === undefined) dictionary.set(v, code = dictionary.size);
    codes[i] = code;
  });
  return { name, type: 'string', codes, dictionary: [...dictionary.keys()] };
}

function numbers(name: string, type: NumericColumn['type'], values: readonly number[]): NumericColumn {
  return { name, type, values: Float64Array.from(values), valid: new Uint8Array(values.length).fill(1) };
}

const json = (v: unknown): string | null => (v === undefined ? null : JSON.stringify(v));

function archiveTable(entries: readonly LabelledEntry[]): Table {
  const pick = <T>(f: (e: LabelledEntry) => T): T[] => entries.map(f);
  return makeTable([
    strings('request_id', pick((e) => e.requestId)),
    numbers('time', 'datetime', pick((e) => e.time)),
    strings('endpoint', pick((e) => e.endpoint)),
    strings('model', pick((e) => e.model)),
    strings('version', pick((e) => e.version)),
    strings('route', pick((e) => e.route)),
    numbers('shadow', 'boolean', pick((e) => (e.shadow ? 1 : 0))),
    numbers('latency_ms', 'float', pick((e) => e.latencyMs)),
    strings('inputs', pick((e) => JSON.stringify(e.inputs))),
    strings('predictions', pick((e) => json(e.predictions))),
    strings('classes', pick((e) => json(e.classes))),
    strings('proba', pick((e) => json(e.proba))),
    strings('error', pick((e) => e.error ?? null)),
    strings('labels', pick((e) => json(e.labels))),
  ], entries.length);
}

/** The Parquet bytes of entries, a row group per {@link PAGE} entries. */
export function encodeArchive(entries: readonly LabelledEntry[]): Buffer {
  const table = archiveTable(entries);
  const encoder = parquetEncoder();
  const parts: Uint8Array[] = [];
  for (let start = 0; start < table.rowCount || start === 0; start += PAGE) {
    const part = encoder.block(sliceRows(table, start, Math.min(table.rowCount, start + PAGE)), start === 0);
    parts.push(typeof part === 'string' ? Buffer.from(part) : part);
  }
  const end = encoder.end();
  parts.push(typeof end === 'string' ? Buffer.from(end) : end);
  return Buffer.concat(parts);
}

/** The entries of an archive file's bytes; `name` is what errors call it. */
export async function decodeArchive(bytes: Buffer, name: string): Promise<LabelledEntry[]> {
  const table = await readParquet({ bytes, name });
  const col = (n: string): Column => {
    const c = table.columns.find((x) => x.name === n);
    if (!c) throw new TrellisError('TRELLIS_DATA_FORMAT', { file: name, format: 'a prediction archive', detail: `it has no column '${n}'` });
    return c;
  };
  const text = (c: Column, i: number): string | null => {
    if (c.type !== 'string') throw new TrellisError('TRELLIS_DATA_FORMAT', { file: name, format: 'a prediction archive', detail: `column '${c.name}' holds ${c.type} values, not text` });
    const code = c.codes[i]!;
    return code < 0 ? null : c.dictionary[code]!;
  };
  const num = (c: Column, i: number): number => (c as NumericColumn).values[i]!;
  const [requestId, time, endpoint, model, version, route, shadow, latency, inputs, predictions, classes, proba, error, labels] = [
    'request_id', 'time', 'endpoint', 'model', 'version', 'route', 'shadow', 'latency_ms', 'inputs', 'predictions', 'classes', 'proba', 'error', 'labels',
  ].map(col);
  for (const c of [time!, shadow!, latency!]) {
    if (c.type === 'string') throw new TrellisError('TRELLIS_DATA_FORMAT', { file: name, format: 'a prediction archive', detail: `column '${c.name}' holds text, not numbers` });
  }
  const parsed = <T>(c: Column, i: number): T | undefined => {
    const t = text(c, i);
    return t === null ? undefined : (JSON.parse(t) as T);
  };
  return Array.from({ length: table.rowCount }, (_, i): LabelledEntry => {
    const p = parsed<(string | number)[]>(predictions!, i);
    const k = parsed<string[]>(classes!, i);
    const pr = parsed<number[][]>(proba!, i);
    const err = text(error!, i);
    const l = parsed<Labels>(labels!, i);
    return {
      requestId: text(requestId!, i)!, endpoint: text(endpoint!, i)!, time: num(time!, i), model: text(model!, i)!, version: text(version!, i)!,
      route: text(route!, i)!, shadow: num(shadow!, i) === 1, latencyMs: num(latency!, i), inputs: parsed<Record<string, unknown>[]>(inputs!, i) ?? [],
      ...(p ? { predictions: p } : {}), ...(k ? { classes: k } : {}), ...(pr ? { proba: pr } : {}),
      ...(err !== null ? { error: err } : {}), ...(l ? { labels: l } : {}),
    };
  });
}

export class PredictionArchive {
  private readonly cache = new Map<string, LabelledEntry[]>();

  constructor(private readonly log: PredictionLog, private readonly artifacts: ArtifactStore) {}

  /**
   * Moves the entries older than `olderThan` (of one endpoint, or of all) into files, a file per
   * endpoint and day, each written and checked before its entries leave the table.
   */
  async archive(opts: { olderThan: number; endpoint?: string }): Promise<ArchivedDay[]> {
    const endpoints = opts.endpoint !== undefined ? [opts.endpoint] : await this.log.endpoints(opts.olderThan);
    const done: ArchivedDay[] = [];
    for (const endpoint of endpoints) {
      let day: LabelledEntry[] = [];
      let after: PredictionQuery['after'];
      for (;;) {
        const page = await this.log.query({ endpoint, until: opts.olderThan, limit: PAGE, ...(after ? { after } : {}) });
        for (const e of page) {
          if (day.length && Math.floor(e.time / DAY_MS) !== Math.floor(day[0]!.time / DAY_MS)) {
            done.push(await this.moveDay(endpoint, day));
            day = [];
          }
          day.push(e);
        }
        if (page.length < PAGE) break;
        const last = page[page.length - 1]!;
        after = { time: last.time, requestId: last.requestId, route: last.route };
      }
      if (day.length) done.push(await this.moveDay(endpoint, day));
    }
    return done;
  }

  private async moveDay(endpoint: string, entries: LabelledEntry[]): Promise<ArchivedDay> {
    const bytes = encodeArchive(entries);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const first = entries[0]!.time;
    const last = entries[entries.length - 1]!.time;
    const path = `${ARCHIVE_ROOT}/${endpoint}/${dayPath(first)}/${first}-${last}-${sha256.slice(0, 8)}.parquet`;
    const put = await this.artifacts.put(path, bytes);
    // Read back through the store (which checks the hash) and compare every entry before deleting any.
    const back = await decodeArchive(await this.artifacts.get(path), path);
    if (put.sha256 !== sha256 || !isDeepStrictEqual(back, entries)) {
      throw new Error(`The archive file ${path} does not read back as written; its ${entries.length} entries stay in the table`);
    }
    const removed = await this.log.remove(endpoint, entries);
    return { endpoint, day: dayPath(first).replace(/\//g, '-'), path, entries: entries.length, removed, bytes: put.size };
  }

  /**
   * The archive files of an endpoint holding entries in [from, until), in the order of their first
   * entry, listed a day directory at a time: a reader that has what it needs stops listing.
   */
  async *files(endpoint: string, from = 0, until = Number.POSITIVE_INFINITY): AsyncGenerator<ArchiveFile> {
    // Only an endpoint's name makes a folder (letters, digits, '.', '_', '-'); anything else was never archived.
    if (!ENDPOINT_RE.test(endpoint)) return;
    const lo = from > 0 ? dayPath(from) : '';
    const hi = Number.isFinite(until) ? dayPath(until) : '~';
    const root = `${ARCHIVE_ROOT}/${endpoint}`;
    // Directories are `yyyy`, `yyyy/mm`, `yyyy/mm/dd`: one whose days all lie outside [lo, hi] is skipped.
    const inRange = (path: string): boolean => {
      const rel = path.slice(root.length + 1);
      return rel >= lo.slice(0, rel.length) && rel <= hi.slice(0, rel.length);
    };
    const dirs = async (dir: string): Promise<string[]> => (await this.artifacts.list(dir)).filter((i) => i.isDir && inRange(i.path)).map((i) => i.path);
    for (const year of await dirs(root)) {
      for (const month of await dirs(year)) {
        for (const day of await dirs(month)) {
          const found: ArchiveFile[] = [];
          for (const item of await this.artifacts.list(day)) {
            const m = item.isDir ? null : FILE_RE.exec(item.path.slice(day.length + 1));
            if (!m) continue;
            const f = { path: item.path, first: Number(m[1]), last: Number(m[2]) };
            if (f.last >= from && f.first < until) found.push(f);
          }
          yield* found.sort((a, b) => a.first - b.first || a.last - b.last || (a.path < b.path ? -1 : 1));
        }
      }
    }
  }

  /**
   * The archived entries a query asks for, in the table's order, at most its limit: the labels
   * table's labels over the file's, one entry per (request id, route).
   */
  async query(q: PredictionQuery, limit: number): Promise<LabelledEntry[]> {
    const from = Math.max(q.since ?? 0, q.after?.time ?? 0);
    const found = new Map<string, LabelledEntry>();
    let page: LabelledEntry[] = [];
    for await (const f of this.files(q.endpoint, from, q.until)) {
      // Files come in order of their first entry: once the page is full, a later file cannot change it.
      if (page.length >= limit && f.first > page[limit - 1]!.time) break;
      const entries = (await this.read(f.path)).filter((e) => (q.since === undefined || e.time >= q.since) && (q.until === undefined || e.time < q.until)
        && (q.route === undefined || e.route === q.route) && (!q.after || isAfter(e, q.after)) && !found.has(keyOf(e)));
      const labels = await this.log.labelsOf(q.endpoint, entries.map((e) => e.requestId));
      for (const e of entries) {
        const l = labels.get(e.requestId);
        const entry = l ? { ...e, labels: l } : e;
        if (!q.withLabels || entry.labels) found.set(keyOf(e), entry);
      }
      page = [...found.values()].sort(compareEntries).slice(0, limit);
    }
    return page;
  }

  private async read(path: string): Promise<LabelledEntry[]> {
    const hit = this.cache.get(path);
    if (hit) {
      this.cache.delete(path);
      this.cache.set(path, hit);
      return hit;
    }
    const entries = await decodeArchive(await this.artifacts.get(path), path);
    this.cache.set(path, entries);
    if (this.cache.size > CACHED_FILES) this.cache.delete(this.cache.keys().next().value!);
    return entries;
  }
}

export interface ArchiveLoopOptions {
  /** Moves the entries older than a time; `PredictionService.archive`. */
  archive(olderThan: number): Promise<ArchivedDay[]>;
  acquireLease(lease: string, holder: string, ttlMs: number): Promise<boolean>;
  /** This replica's name in the lease. */
  holder: string;
  /** Entries older than this (ms) are archived. */
  afterMs: number;
  now?: () => number;
  onRun?: (days: ArchivedDay[], olderThan: number) => void;
  onError?: (e: Error) => void;
}

const ARCHIVE_LEASE = 'prediction-archive';
const ARCHIVE_EVERY_MS = 3_600_000;

/**
 * Archives periodically on one replica among those serving a store (`trellis serve
 * --archive-after`): at start, then hourly (or every `afterMs`, when shorter), the replica that
 * holds the archive lease runs one archive. Two runs at once would still be safe (a file is
 * written before its rows go; readers de-duplicate); the lease only saves the work.
 */
export class ArchiveLoop {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;

  constructor(private readonly o: ArchiveLoopOptions) {}

  start(): void {
    const every = Math.min(ARCHIVE_EVERY_MS, this.o.afterMs);
    const loop = (delay: number) => {
      if (this.stopped) return;
      this.timer = setTimeout(() => { this.running = this.tick().then(() => undefined, (e: unknown) => this.o.onError?.(e as Error)).finally(() => loop(every)); }, delay);
      this.timer.unref();
    };
    loop(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** One round: the files written, or undefined when another replica holds the lease. */
  async tick(): Promise<ArchivedDay[] | undefined> {
    // The lease outlives the interval a little, so the holder keeps it from one round to the next.
    if (!(await this.o.acquireLease(ARCHIVE_LEASE, this.o.holder, Math.min(ARCHIVE_EVERY_MS, this.o.afterMs) + 60_000))) return undefined;
    const olderThan = (this.o.now ?? Date.now)() - this.o.afterMs;
    const days = await this.o.archive(olderThan);
    this.o.onRun?.(days, olderThan);
    return days;
  }
}
