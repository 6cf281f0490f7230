/**
 * {@link PredictionLog} in SQL: one row per (endpoint, request id, route) with the inputs and
 * outputs as JSON text, and one row of labels per request. Appends are batches in one transaction,
 * outside the audit chain (entries are data; the deployment that produced them is audited).
 */
import { TrellisError, invalid } from '../../core/errors.js';
import type { LabelledEntry, PredictionEntry, PredictionLog, PredictionQuery, RouteStats } from '../ports/predictions.js';
import { num, optStr, text } from './rows.js';
import type { Row } from './sql-driver.js';
import type { UnitOfWork } from './unit-of-work.js';

const MAX_PAGE = 10_000;
/** Keys per statement when deleting or looking up many entries (SQLite allows 32766 parameters). */
const KEY_BATCH = 500;

interface Outputs {
  predictions?: (string | number)[];
  classes?: string[];
  proba?: number[][];
}

function entryRow(r: Row): LabelledEntry {
  const out = r.outputs === null || r.outputs === undefined ? {} : (JSON.parse(text(r.outputs)) as Outputs);
  const error = optStr(r.error);
  const labels = r.labels === null || r.labels === undefined ? undefined : (JSON.parse(text(r.labels)) as (string | number | null)[]);
  return {
    requestId: text(r.request_id), endpoint: text(r.endpoint), time: num(r.time), model: text(r.model), version: text(r.version),
    route: text(r.route), shadow: num(r.shadow) === 1, latencyMs: num(r.latency_ms), inputs: JSON.parse(text(r.inputs)) as Record<string, unknown>[],
    ...(out.predictions ? { predictions: out.predictions } : {}), ...(out.classes ? { classes: out.classes } : {}), ...(out.proba ? { proba: out.proba } : {}),
    ...(error !== undefined ? { error } : {}), ...(labels ? { labels } : {}),
  };
}

export class SqlPredictionLog implements PredictionLog {
  constructor(private readonly uow: UnitOfWork) {}

  async append(entries: readonly PredictionEntry[]): Promise<void> {
    if (!entries.length) return;
    const rows = entries.map((e) => {
      const outputs = e.predictions ? JSON.stringify({ predictions: e.predictions, ...(e.classes ? { classes: e.classes } : {}), ...(e.proba ? { proba: e.proba } : {}) }) : null;
      return [e.endpoint, e.requestId, e.route, e.time, e.model, e.version, e.shadow ? 1 : 0, e.latencyMs, e.inputs.length, JSON.stringify(e.inputs), outputs, e.error ?? null];
    });
    await this.uow.writeUnaudited(async (tx) => {
      await tx.runMany(
        `INSERT INTO prediction_log (endpoint, request_id, route, time, model, version, shadow, latency_ms, row_count, inputs, outputs, error)
         VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (endpoint, request_id, route) DO NOTHING`,
        rows,
      );
    });
  }

  async feedback(endpoint: string, requestId: string, labels: readonly (string | number | null)[], at: number): Promise<{ rows: number }> {
    return this.uow.writeUnaudited(async (tx) => {
      const found = await tx.query('SELECT row_count FROM prediction_log WHERE endpoint = ? AND request_id = ? AND shadow = 0', [endpoint, requestId]);
      if (!found.length) {
        throw new TrellisError('TRELLIS_PREDICTION_NOT_FOUND', { endpoint: endpoint.slice(0, 100), requestId: requestId.slice(0, 128) });
      }
      const rows = num(found[0]!.row_count);
      if (labels.length !== rows) throw invalid(`Request '${requestId.slice(0, 128)}' had ${rows} row${rows === 1 ? '' : 's'}; give ${rows === 1 ? 'one label' : `${rows} labels, one per row, in order`} (got ${labels.length})`);
      await tx.run(
        'INSERT INTO prediction_labels (endpoint, request_id, labels, at) VALUES (?,?,?,?) ON CONFLICT (endpoint, request_id) DO UPDATE SET labels = excluded.labels, at = excluded.at',
        [endpoint, requestId, JSON.stringify(labels), at],
      );
      return { rows };
    });
  }

  async query(q: PredictionQuery): Promise<LabelledEntry[]> {
    const where = ['p.endpoint = ?'];
    const args: (string | number)[] = [q.endpoint];
    if (q.since !== undefined) { where.push('p.time >= ?'); args.push(q.since); }
    if (q.until !== undefined) { where.push('p.time < ?'); args.push(q.until); }
    if (q.route !== undefined) { where.push('p.route = ?'); args.push(q.route); }
    if (q.withLabels) where.push('l.labels IS NOT NULL');
    if (q.after) {
      where.push('(p.time > ? OR (p.time = ? AND (p.request_id > ? OR (p.request_id = ? AND p.route > ?))))');
      args.push(q.after.time, q.after.time, q.after.requestId, q.after.requestId, q.after.route);
    }
    const limit = Math.max(1, Math.min(MAX_PAGE, Math.floor(q.limit ?? 1000)));
    const rows = await this.uow.read.query(
      `SELECT p.*, l.labels FROM prediction_log p LEFT JOIN prediction_labels l ON l.endpoint = p.endpoint AND l.request_id = p.request_id
       WHERE ${where.join(' AND ')} ORDER BY p.time, p.request_id, p.route LIMIT ${limit}`,
      args,
    );
    return rows.map(entryRow);
  }

  async stats(endpoint: string, since: number, until?: number): Promise<RouteStats[]> {
    const by = new Map<string, RouteStats>();
    let after: PredictionQuery['after'];
    for (;;) {
      const page = await this.query({ endpoint, since, ...(until !== undefined ? { until } : {}), limit: MAX_PAGE, ...(after ? { after } : {}) });
      for (const e of page) {
        const key = `${e.route}\u0000${e.model}/${e.version}`;
        let s = by.get(key);
        if (!s) by.set(key, s = { route: e.route, model: e.model, version: e.version, requests: 0, errors: 0, latencies: [], labelled: [], ...(e.classes ? { classes: e.classes } : {}) });
        s.requests++;
        if (e.error !== undefined) s.errors++;
        s.latencies.push(e.latencyMs);
        if (e.labels && e.predictions) {
          e.labels.forEach((label, i) => {
            if (label === null || e.predictions![i] === undefined) return;
            s.labelled.push({ prediction: e.predictions![i], label, ...(e.proba?.[i] ? { proba: e.proba[i] } : {}) });
          });
        }
      }
      if (page.length < MAX_PAGE) break;
      const last = page[page.length - 1]!;
      after = { time: last.time, requestId: last.requestId, route: last.route };
    }
    for (const s of by.values()) s.latencies.sort((a, b) => a - b);
    return [...by.values()];
  }

  async prune(before: number): Promise<number> {
    return this.uow.writeUnaudited(async (tx) => {
      const n = num((await tx.query('SELECT COUNT(*) AS n FROM prediction_log WHERE time < ?', [before]))[0]!.n);
      await tx.run('DELETE FROM prediction_labels WHERE request_id IN (SELECT request_id FROM prediction_log p WHERE p.endpoint = prediction_labels.endpoint AND p.time < ?)', [before]);
      await tx.run('DELETE FROM prediction_log WHERE time < ?', [before]);
      return n;
    });
  }

  async endpoints(before?: number): Promise<string[]> {
    const rows = before === undefined
      ? await this.uow.read.query('SELECT DISTINCT endpoint FROM prediction_log')
      : await this.uow.read.query('SELECT DISTINCT endpoint FROM prediction_log WHERE time < ?', [before]);
    return rows.map((r) => text(r.endpoint)).sort();
  }

  async remove(endpoint: string, keys: readonly { requestId: string; route: string }[]): Promise<number> {
    if (!keys.length) return 0;
    return this.uow.writeUnaudited(async (tx) => {
      let n = 0;
      for (let i = 0; i < keys.length; i += KEY_BATCH) {
        const batch = keys.slice(i, i + KEY_BATCH);
        // A row-value IN list: both SQLite and PostgreSQL look each key up in the primary key.
        const keysSql = batch.map(() => '(?,?)').join(',');
        n += (await tx.run(`DELETE FROM prediction_log WHERE endpoint = ? AND (request_id, route) IN (VALUES ${keysSql})`, [endpoint, ...batch.flatMap((k) => [k.requestId, k.route])])).changes;
      }
      return n;
    });
  }

  async labelsOf(endpoint: string, requestIds: readonly string[]): Promise<Map<string, (string | number | null)[]>> {
    const out = new Map<string, (string | number | null)[]>();
    const ids = [...new Set(requestIds)];
    for (let i = 0; i < ids.length; i += KEY_BATCH) {
      const batch = ids.slice(i, i + KEY_BATCH);
      const rows = await this.uow.read.query(
        `SELECT request_id, labels FROM prediction_labels WHERE endpoint = ? AND request_id IN (${batch.map(() => '?').join(',')})`,
        [endpoint, ...batch],
      );
      for (const r of rows) out.set(text(r.request_id), JSON.parse(text(r.labels)) as (string | number | null)[]);
    }
    return out;
  }
}
