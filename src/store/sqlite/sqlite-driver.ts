import Database from 'better-sqlite3';
import { TrellisError } from '../../core/errors.js';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { createRequire } from 'node:module';
import { Checkpointer } from './checkpointer.js';

const require = createRequire(import.meta.url);
import type { Row, SqlDialect, SqlDriver, SqlExecutor, SqlValue } from '../sql/sql-driver.js';

const sqliteDialect: SqlDialect = {
  name: 'sqlite',
  constrainAfterLoad: false,
  types: { bigint: 'INTEGER', double: 'REAL', text: 'TEXT', key: 'TEXT', autoId: 'INTEGER PRIMARY KEY', clustered: ' WITHOUT ROWID', include: () => '', covering: (cols) => `, ${cols}` },
  // 9e999 is SQLite's infinity, which its JSON would write as a number out of every double's range.
  jsonObjects: (fields) => {
    const members = fields.map((f) => `'${f.name}', ${f.nanFlag === undefined ? f.expr
      : `CASE WHEN ${f.nanFlag} <> 0 THEN 'NaN' WHEN ${f.expr} = 9e999 THEN 'Infinity' WHEN ${f.expr} = -9e999 THEN '-Infinity' ELSE ${f.expr} END`}`);
    return `json_group_array(json_object(${members.join(', ')}))`;
  },
  // SQLite's LIKE ignores ASCII case; MLflow's LIKE is case-sensitive, so use GLOB.
  like: (expr) => `${expr} GLOB ?`,
  ilike: (expr) => `lower(${expr}) LIKE lower(?) ESCAPE '\\'`,
  likePattern: (p) => {
    let out = '';
    for (const ch of p) {
      if (ch === '%') out += '*';
      else if (ch === '_') out += '?';
      else if (ch === '*' || ch === '?' || ch === '[') out += `[${ch}]`;
      else out += ch;
    }
    return out;
  },
};

type Statement = Database.Statement<unknown[]>;

class StatementCache {
  private readonly cache = new Map<string, Statement>();
  constructor(private readonly db: Database.Database) {}
  get(sql: string): Statement {
    let s = this.cache.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      if (this.cache.size > 500) this.cache.clear();
      this.cache.set(sql, s);
    }
    return s;
  }
}

const bind = (params: readonly SqlValue[] | undefined): unknown[] =>
  (params ?? []).map((v) => (typeof v === 'boolean' ? (v ? 1 : 0) : v));

/** Another process holding the database past the busy timeout is worth a retry; say so. */
function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
      throw new TrellisError('TRELLIS_STORE_UNAVAILABLE', { detail: `the SQLite database is locked by another writer (${code})` }, { cause: e });
    }
    throw e;
  }
}

class SqliteExecutor implements SqlExecutor {
  constructor(protected readonly stmts: StatementCache) {}
  async query<T extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return wrap(() => this.stmts.get(sql).all(...bind(params)) as T[]);
  }
  async run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    return wrap(() => ({ changes: this.stmts.get(sql).run(...bind(params)).changes }));
  }
  async runMany(sql: string, rows: readonly (readonly SqlValue[])[]): Promise<void> {
    const st = this.stmts.get(sql);
    wrap(() => {
      for (const r of rows) st.run(...bind(r));
    });
  }
}

/**
 * better-sqlite3 in WAL mode. Two connections: one writer, whose transactions are serialised by an
 * async lock (a transaction spans awaits), and one reader, which only ever sees committed data.
 */
export class SqliteDriver extends SqliteExecutor implements SqlDriver {
  readonly dialect = sqliteDialect;
  private readonly writer: Database.Database;
  private readonly writerStmts: StatementCache;
  private readonly writerExec: SqliteExecutor;
  private lock: Promise<void> = Promise.resolve();
  private checkpointer?: Checkpointer;

  private constructor(private readonly reader: Database.Database, writer: Database.Database) {
    super(new StatementCache(reader));
    this.writer = writer;
    this.writerStmts = new StatementCache(writer);
    this.writerExec = new SqliteExecutor(this.writerStmts);
  }

  static open(path: string): SqliteDriver {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const writer = new Database(path);
    writer.pragma('journal_mode = WAL');
    // NORMAL in WAL mode is durable against a process crash (kill -9); only a power loss can lose
    // the last transactions.
    writer.pragma('synchronous = NORMAL');
    // Checkpoints run on a worker thread (see checkpointer.ts); this is only the safety net that
    // bounds the WAL (about 64 MiB) should that thread fall behind.
    writer.pragma('wal_autocheckpoint = 16000');
    writer.pragma('foreign_keys = ON');
    writer.pragma('busy_timeout = 10000');
    const reader = path === ':memory:' ? writer : new Database(path, { readonly: false });
    reader.pragma('busy_timeout = 10000');
    // Searches join by primary key across large tables: a page cache of 64 MiB and memory-mapped
    // reads keep those lookups off the read() path.
    for (const db of new Set([writer, reader])) {
      db.pragma('cache_size = -65536');
      db.pragma('mmap_size = 1073741824');
    }
    const driver = new SqliteDriver(reader, writer);
    if (path !== ':memory:') driver.checkpointer = new Checkpointer(path, require.resolve('better-sqlite3'));
    return driver;
  }

  async exec(sql: string): Promise<void> {
    await this.transaction(async () => {
      this.writer.exec(sql);
    });
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const prev = this.lock;
    let release!: () => void;
    this.lock = new Promise<void>((r) => (release = r));
    await prev;
    try {
      wrap(() => this.writerStmts.get('BEGIN IMMEDIATE').run());
      try {
        const out = await fn(this.writerExec);
        this.writerStmts.get('COMMIT').run();
        return out;
      } catch (e) {
        if (this.writer.inTransaction) this.writerStmts.get('ROLLBACK').run();
        throw e;
      }
    } finally {
      release();
    }
  }

  async close(): Promise<void> {
    await this.lock;
    await this.checkpointer?.stop();
    if (this.reader !== this.writer && this.reader.open) this.reader.close();
    if (this.writer.open) this.writer.close();
  }
}
