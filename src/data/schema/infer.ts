/**
 * Schema inference from a profile, as TFDV does it: the types seen, nullability with headroom,
 * the numeric range observed, and a categorical domain when a string column has few distinct
 * values. The result is a starting point people edit and pin.
 */
import type { Profile } from '../profile/profile.js';
import { DEFAULT_SKEW, SCHEMA_FORMAT, type ColumnSchema, type DatasetSchema } from './schema.js';

export interface InferOptions {
  /** String columns with at most this many distinct values get a domain. Default 100. */
  maxDomainSize?: number;
  /** Columns only present in some environments, e.g. { income: ['training'] } for a label. */
  environments?: Record<string, string[]>;
}

export function inferSchema(profile: Profile, opts: InferOptions = {}): DatasetSchema {
  const maxDomain = opts.maxDomainSize ?? 100;
  const envs = new Set<string>();
  const columns = profile.columns.map((c): ColumnSchema => {
    const col: ColumnSchema = { name: c.name, type: c.type, nullable: c.missing > 0 };
    if (c.missing > 0) {
      const share = c.missing / Math.max(1, c.count + c.missing);
      // Headroom: twice the observed share, at least 1 point, so tomorrow's batch is not an anomaly by noise.
      col.maxMissing = Math.min(1, Math.max(share * 2, share + 0.01));
    }
    if (c.numeric && (c.type === 'integer' || c.type === 'float' || c.type === 'datetime')) {
      col.range = { min: c.numeric.min, max: c.numeric.max };
    }
    const top = c.sketch.topk;
    if (c.type === 'string' && top && top.items.length <= maxDomain && top.items.length < top.capacity) {
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
