/**
 * Schema inference from a profile, as TFDV does it: the types seen, nullability with headroom,
 * the numeric range observed, and a categorical domain when a string column has few distinct
 * values. Columns that identify rows or say when they happened get a role (`id`, `time`): they
 * get no range and are not compared with a reference, since every new slice of data moves them on.
 * The result is a starting point people edit and pin.
 */
import type { ColumnProfile, Profile } from '../profile/profile.js';
import { DEFAULT_SKEW, SCHEMA_FORMAT, type ColumnRole, type ColumnSchema, type DatasetSchema } from './schema.js';

export interface InferOptions {
  /** String columns with at most this many distinct values get a domain. Default 100. */
  maxDomainSize?: number;
  /** Columns only present in some environments, e.g. { income: ['training'] } for a label. */
  environments?: Record<string, string[]>;
}

/** Names of row identifiers: `id`, `user_id`, `userId`, `id_user`, `uuid`, `index`, `instant` (UCI's record index), … */
const ID_NAME = /^(id|uuid|guid|index|idx|instant|row|rownum|row_?number|key)$|[_\-\s.]id$|^id[_\-\s.]/i;
const ID_CAMEL = /[a-z0-9](Id|ID)$/;
/** Names of the moment a row happened: `date`, `timestamp`, `created_at`, `event_time`, UCI's `dteday`, … */
const TIME_NAME = /^(date|day|dteday|datetime|time|timestamp|ts|epoch)$|[_\-\s.](at|time|timestamp|ts|datetime)$/i;
const TIME_CAMEL = /[a-z0-9](At|Time|Timestamp)$/;
const idName = (n: string) => ID_NAME.test(n) || ID_CAMEL.test(n);
const timeName = (n: string) => TIME_NAME.test(n) || TIME_CAMEL.test(n);

/** Every value distinct (the HyperLogLog estimate is within its error of the count) and none missing. */
function uniquePerRow(c: ColumnProfile): boolean {
  return c.missing === 0 && c.count >= 2 && c.distinct >= c.count * 0.97;
}

/**
 * The role a column's profile and name show, kept conservative: a column that might be a feature
 * gets none. `id`: unique on every row, integers or strings, and named like an identifier — or
 * integers counting up by one in row order (a row number, whatever its name). `time`: datetimes
 * named like a moment or never decreasing in row order, and integers so named and never decreasing
 * (epoch seconds).
 */
export function inferRole(c: ColumnProfile): ColumnRole | undefined {
  if ((c.type === 'integer' || c.type === 'string') && uniquePerRow(c) && idName(c.name)) return 'id';
  if (c.type === 'integer' && c.missing === 0 && c.count >= 20 && c.ascending?.strictly && c.numeric
    && c.numeric.max - c.numeric.min === c.count - 1) return 'id';
  if (c.type === 'datetime' && (timeName(c.name) || (c.ascending && c.count >= 20))) return 'time';
  if (c.type === 'integer' && timeName(c.name) && c.ascending && c.count >= 20) return 'time';
  return undefined;
}

export function inferSchema(profile: Profile, opts: InferOptions = {}): DatasetSchema {
  const maxDomain = opts.maxDomainSize ?? 100;
  const envs = new Set<string>();
  const columns = profile.columns.map((c): ColumnSchema => {
    const col: ColumnSchema = { name: c.name, type: c.type, nullable: c.missing > 0 };
    const role = inferRole(c);
    if (role) col.role = role;
    if (c.missing > 0) {
      const share = c.missing / Math.max(1, c.count + c.missing);
      // Headroom: twice the observed share, at least 1 point, so tomorrow's batch is not an anomaly by noise.
      col.maxMissing = Math.min(1, Math.max(share * 2, share + 0.01));
    }
    // An id or a time of tomorrow's rows lies beyond today's: no range is inferred for them.
    if (!role && c.numeric && (c.type === 'integer' || c.type === 'float' || c.type === 'datetime')) {
      col.range = { min: c.numeric.min, max: c.numeric.max };
    }
    const top = c.sketch.topk;
    if (!role && c.type === 'string' && top && top.items.length <= maxDomain && top.items.length < top.capacity) {
      col.domain = top.items.map(([value]) => value).sort();
    }
    const e = opts.environments?.[c.name];
    if (e) {
      col.environments = [...e];
      e.forEach((x) => envs.add(x));
    }
    return col;
  });
  const schema: DatasetSchema = { format: SCHEMA_FORMAT, columns, skew: { ...DEFAULT_SKEW }, unexpectedColumns: 'error' };
  if (envs.size) {
    schema.environments = [...envs, ...(envs.has('serving') ? [] : ['serving'])].sort();
    schema.defaultEnvironment = schema.environments.includes('training') ? 'training' : schema.environments[0]!;
  }
  return schema;
}
