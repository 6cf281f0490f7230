/**
 * The few primitives the SQL metadata store needs from a database, so that the store itself is
 * written once for SQLite and PostgreSQL. Statements use `?` placeholders; each driver translates.
 * Anything that differs between the two databases is a member of {@link SqlDialect}, not an `if`
 * in the store.
 */

export type SqlValue = string | number | bigint | boolean | null | Uint8Array;
export type Row = Record<string, unknown>;

export interface SqlExecutor {
  query<T extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }>;
  /** Runs one statement once per parameter row, as fast as the driver can (prepared once). */
  runMany(sql: string, rows: readonly (readonly SqlValue[])[]): Promise<void>;
}

export interface SqlDialect {
  readonly name: 'sqlite' | 'postgres';
  /** Column types for DDL. */
  readonly types: {
    bigint: string;
    double: string;
    text: string;
    autoId: string;
    /** Table suffix for tables looked up by a text primary key (SQLite: WITHOUT ROWID, one b-tree search instead of two). */
    clustered: string;
    /**
     * Makes a primary key carry extra columns so lookups never visit the table (PostgreSQL's
     * INCLUDE); SQLite's clustered tables hold every column in the key's b-tree already.
     */
    include(columns: string): string;
    /**
     * Extra trailing columns of a secondary index that make it covering: PostgreSQL adds them as
     * `) INCLUDE (…` after the key; SQLite appends them to the key.
     */
    covering(columns: string): string;
  };
  /**
   * An aggregate that packs the grouped rows' columns into one JSON text `[[c1, c2, …], …]`:
   * loading many runs then moves one value per run to JavaScript instead of one object per row.
   */
  jsonRows(columns: readonly string[]): string;
  /** A case-sensitive SQL LIKE of `expr` against one bound pattern. */
  like(expr: string): string;
  /** A case-insensitive LIKE. */
  ilike(expr: string): string;
  /** Rewrites a LIKE pattern into what {@link like} binds (SQLite uses GLOB for case sensitivity). */
  likePattern(pattern: string): string;
}

export interface SqlDriver extends SqlExecutor {
  readonly dialect: SqlDialect;
  /**
   * Runs `fn` in one write transaction. Writers are serialised (so the audit chain has one order,
   * the commit order); readers outside the transaction never see its uncommitted rows.
   */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}
