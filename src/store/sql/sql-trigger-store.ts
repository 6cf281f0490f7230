/**
 * {@link TriggerStore} in SQL. Every state change is one {@link UnitOfWork.write} with its audit
 * event; a scheduler's sign of life (`touchTriggers`) is written without one.
 *
 * Claiming needs no row locks of its own: write transactions are serialised (SQLite's one writer,
 * PostgreSQL's advisory write lock), so the SELECT that picks pending records and the UPDATE that
 * moves them to running see no other writer in between, and the UPDATE's `status = 'pending'`
 * condition keeps it a compare-and-set even so.
 */
import { TrellisError, invalid } from '../../core/errors.js';
import { excerpt } from '../limits.js';
import type { Actor } from '../ports/common.js';
import type {
  ClaimTriggersQuery, CreateTriggerInput, ListTriggersQuery, TriggerKind, TriggerParams, TriggerPatch, TriggerRecord, TriggerStatus, TriggerStore,
} from '../ports/triggers.js';
import { jsonCol, num, optNum, optStr, placeholders } from './rows.js';
import type { Row, SqlValue } from './sql-driver.js';
import { checkPipelineName, checkText } from './sql-pipeline-store.js';
import type { UnitOfWork } from './unit-of-work.js';

export const TRIGGER_KINDS: readonly TriggerKind[] = ['cron', 'dataset', 'pipeline', 'api', 'record'];
export const TRIGGER_STATUSES: readonly TriggerStatus[] = ['pending', 'running', 'finished', 'failed', 'skipped', 'cancelled'];

const MAX_PARAMS_JSON = 64 * 1024;

function checkStatus(s: unknown, field: string): TriggerStatus {
  if (!TRIGGER_STATUSES.includes(s as TriggerStatus)) throw invalid(`Invalid ${field} '${String(s)}': must be one of ${TRIGGER_STATUSES.join(', ')}`);
  return s as TriggerStatus;
}

function checkParams(params: unknown): TriggerParams {
  if (params === undefined) return {};
  if (params === null || typeof params !== 'object' || Array.isArray(params)) throw invalid('Invalid trigger params: expected an object of parameter values');
  for (const [k, v] of Object.entries(params)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw invalid(`Invalid trigger parameter name '${k.slice(0, 100)}': must be an identifier`);
    if (!['string', 'number', 'boolean'].includes(typeof v) || (typeof v === 'number' && !Number.isFinite(v))) {
      throw invalid(`Invalid value for trigger parameter '${k}': expected a string, a finite number or a boolean`);
    }
  }
  if (JSON.stringify(params).length > MAX_PARAMS_JSON) throw invalid(`Invalid trigger params: larger than ${MAX_PARAMS_JSON} bytes as JSON`);
  return params as TriggerParams;
}

function checkId(id: unknown): number {
  const n = Number(id);
  if (!Number.isSafeInteger(n) || n < 1) throw invalid(`Invalid trigger id '${String(id)}': must be a positive integer`);
  return n;
}

function triggerRow(r: Row): TriggerRecord {
  const t: TriggerRecord = {
    id: num(r.id), pipeline: String(r.pipeline), kind: String(r.kind) as TriggerKind, reason: String(r.reason),
    params: jsonCol<TriggerParams>(r.params_json), status: String(r.status) as TriggerStatus,
    createdAt: num(r.created_at), updatedAt: num(r.updated_at), requestedBy: String(r.requested_by),
  };
  const opt: Partial<TriggerRecord> = {
    dedupeKey: optStr(r.dedupe_key), claimedBy: optStr(r.claimed_by), claimedAt: optNum(r.claimed_at), heartbeatAt: optNum(r.heartbeat_at),
    version: optNum(r.version), runId: optStr(r.run_id), detail: optStr(r.detail),
  };
  for (const [k, v] of Object.entries(opt)) if (v !== undefined) (t as unknown as Record<string, unknown>)[k] = v;
  return t;
}

/** What an audit event says of a trigger record. */
function triggerAudit(t: TriggerRecord): Record<string, unknown> {
  return {
    pipeline: t.pipeline, kind: t.kind, status: t.status, reason: t.reason, params: t.params, dedupeKey: t.dedupeKey ?? null,
    claimedBy: t.claimedBy ?? null, version: t.version ?? null, runId: t.runId ?? null, detail: t.detail ?? null,
  };
}

export class SqlTriggerStore implements TriggerStore {
  constructor(private readonly uow: UnitOfWork) {}

  async createTrigger(input: CreateTriggerInput, who: Actor): Promise<{ trigger: TriggerRecord; created: boolean }> {
    const pipeline = checkPipelineName(input.pipeline);
    if (!TRIGGER_KINDS.includes(input.kind)) throw invalid(`Invalid trigger kind '${String(input.kind)}': must be one of ${TRIGGER_KINDS.join(', ')}`);
    const params = checkParams(input.params);
    const reason = checkText('reason', input.reason) ?? '';
    const dedupeKey = checkText('dedupe key', input.dedupeKey, 1024);
    if (dedupeKey !== undefined) {
      // Most evaluations find their event recorded already: answer those without taking the write lock.
      const seen = await this.uow.read.query('SELECT * FROM pipeline_triggers WHERE dedupe_key = ?', [dedupeKey]);
      if (seen[0]) return { trigger: triggerRow(seen[0]), created: false };
    }
    return this.uow.write(who, async (tx, audit) => {
      if (dedupeKey !== undefined) {
        const seen = await tx.query('SELECT * FROM pipeline_triggers WHERE dedupe_key = ?', [dedupeKey]);
        if (seen[0]) return { trigger: triggerRow(seen[0]), created: false };
      }
      const now = this.uow.now();
      const [row] = await tx.query(
        `INSERT INTO pipeline_triggers (pipeline, kind, reason, params_json, dedupe_key, status, created_at, updated_at, requested_by)
         VALUES (?,?,?,?,?,'pending',?,?,?) RETURNING *`,
        [pipeline, input.kind, reason, JSON.stringify(params), dedupeKey ?? null, now, now, who.actor],
      );
      if (!row) throw new Error('INSERT … RETURNING returned no row');
      const trigger = triggerRow(row);
      await audit('create_trigger', 'pipeline_trigger', String(trigger.id), null, triggerAudit(trigger));
      return { trigger, created: true };
    });
  }

  async getTrigger(id: number): Promise<TriggerRecord> {
    const rows = await this.uow.read.query('SELECT * FROM pipeline_triggers WHERE id = ?', [checkId(id)]);
    if (!rows[0]) throw new TrellisError('TRELLIS_TRIGGER_NOT_FOUND', { id: excerpt(id) });
    return triggerRow(rows[0]);
  }

  async claimTriggers(q: ClaimTriggersQuery, who: Actor): Promise<TriggerRecord[]> {
    const claimer = checkText('claimer', q.claimer, 255);
    if (!claimer) throw new TrellisError('TRELLIS_MISSING_PARAMETER', { param: 'claimer' });
    const limit = q.limit ?? 1;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw invalid(`Invalid claim limit ${limit}: must be an integer from 1 to 1000`);
    if (q.pipeline !== undefined) checkPipelineName(q.pipeline);
    const ids = q.ids?.map(checkId);
    if (ids && !ids.length) return [];
    return this.uow.write(who, async (tx, audit) => {
      const where = ["t.status = 'pending'"];
      const params: SqlValue[] = [];
      if (q.pipeline !== undefined) { where.push('t.pipeline = ?'); params.push(q.pipeline); }
      if (ids) { where.push(`t.id IN (${placeholders(ids.length)})`); params.push(...ids); }
      if (q.exclusive) where.push("NOT EXISTS (SELECT 1 FROM pipeline_triggers r WHERE r.pipeline = t.pipeline AND r.status = 'running')");
      const picked = q.exclusive
        ? await tx.query<{ id: number }>(`SELECT MIN(t.id) AS id FROM pipeline_triggers t WHERE ${where.join(' AND ')} GROUP BY t.pipeline ORDER BY 1 LIMIT ?`, [...params, limit])
        : await tx.query<{ id: number }>(`SELECT t.id FROM pipeline_triggers t WHERE ${where.join(' AND ')} ORDER BY t.id LIMIT ?`, [...params, limit]);
      if (!picked.length) return [];
      const now = this.uow.now();
      const pickedIds = picked.map((r) => Number(r.id));
      const rows = await tx.query(
        `UPDATE pipeline_triggers SET status = 'running', claimed_by = ?, claimed_at = ?, heartbeat_at = ?, updated_at = ?
         WHERE status = 'pending' AND id IN (${placeholders(pickedIds.length)}) RETURNING *`,
        [claimer, now, now, now, ...pickedIds],
      );
      const claimed = rows.map(triggerRow).sort((a, b) => a.id - b.id);
      for (const t of claimed) {
        await audit('claim_trigger', 'pipeline_trigger', String(t.id), { status: 'pending' }, { status: 'running', claimedBy: claimer });
      }
      return claimed;
    });
  }

  async updateTrigger(id: number, patch: TriggerPatch, who: Actor): Promise<TriggerRecord | undefined> {
    checkId(id);
    if (patch.status !== undefined) checkStatus(patch.status, 'trigger status');
    for (const s of patch.expectStatus ?? []) checkStatus(s, 'expected trigger status');
    const detail = checkText('detail', patch.detail);
    const runId = checkText('run id', patch.runId, 255);
    if (patch.version !== undefined && (!Number.isInteger(patch.version) || patch.version < 1)) throw invalid(`Invalid pipeline version '${patch.version}': must be a positive integer`);
    return this.uow.write(who, async (tx, audit) => {
      const rows = await tx.query('SELECT * FROM pipeline_triggers WHERE id = ?', [id]);
      if (!rows[0]) throw new TrellisError('TRELLIS_TRIGGER_NOT_FOUND', { id: excerpt(id) });
      const before = triggerRow(rows[0]);
      if (patch.expectStatus && !patch.expectStatus.includes(before.status)) return undefined;
      const sets: string[] = ['updated_at = ?'];
      const params: SqlValue[] = [this.uow.now()];
      const changed: Record<string, unknown> = {};
      const was: Record<string, unknown> = {};
      const set = (column: string, key: keyof TriggerRecord, v: SqlValue | undefined) => {
        if (v === undefined || v === before[key]) return;
        sets.push(`${column} = ?`);
        params.push(v);
        changed[key] = v;
        was[key] = before[key] ?? null;
      };
      set('status', 'status', patch.status);
      set('detail', 'detail', detail);
      set('run_id', 'runId', runId);
      set('version', 'version', patch.version);
      if (!Object.keys(changed).length) return before;
      await tx.run(`UPDATE pipeline_triggers SET ${sets.join(', ')} WHERE id = ?`, [...params, id]);
      await audit('update_trigger', 'pipeline_trigger', String(id), was, changed);
      const [after] = await tx.query('SELECT * FROM pipeline_triggers WHERE id = ?', [id]);
      if (!after) throw new TrellisError('TRELLIS_TRIGGER_NOT_FOUND', { id: excerpt(id) });
      return triggerRow(after);
    });
  }

  async touchTriggers(claimer: string): Promise<number> {
    return this.uow.writeUnaudited(async (tx) => (await tx.run(
      "UPDATE pipeline_triggers SET heartbeat_at = ? WHERE claimed_by = ? AND status = 'running'", [this.uow.now(), claimer],
    )).changes);
  }

  async listTriggers(q: ListTriggersQuery = {}): Promise<TriggerRecord[]> {
    const where: string[] = [];
    const params: SqlValue[] = [];
    if (q.pipeline !== undefined) { where.push('pipeline = ?'); params.push(checkPipelineName(q.pipeline)); }
    if (q.status !== undefined) {
      const statuses = [q.status].flat().map((s) => checkStatus(s, 'trigger status'));
      where.push(`status IN (${placeholders(statuses.length)})`);
      params.push(...statuses);
    }
    if (q.claimedBy !== undefined) { where.push('claimed_by = ?'); params.push(q.claimedBy); }
    const limit = q.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 10000) throw invalid(`Invalid limit ${limit}: must be an integer from 1 to 10000`);
    const rows = await this.uow.read.query(
      `SELECT * FROM pipeline_triggers ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id ${q.oldestFirst ? 'ASC' : 'DESC'} LIMIT ?`,
      [...params, limit],
    );
    return rows.map(triggerRow);
  }
}
