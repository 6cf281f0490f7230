/**
 * Reads the audit chain. Events are appended only by {@link UnitOfWork.write}, inside the
 * transaction of the change they record; this adapter writes only the signed checkpoints.
 */
import type { RegistrySnapshot, AuditCheckpoint, AuditEvent, AuditLog, AuditQuery, CheckpointSigner } from '../ports/audit.js';
import { num, optJsonCol } from './rows.js';
import type { SqlValue } from './sql-driver.js';
import type { UnitOfWork } from './unit-of-work.js';

export class SqlAuditLog implements AuditLog {
  constructor(private readonly uow: UnitOfWork) {}

  async listAuditEvents(q: AuditQuery = {}): Promise<AuditEvent[]> {
    const where = ['seq > ?'];
    const params: SqlValue[] = [q.afterSeq ?? 0];
    if (q.entityType) { where.push('entity_type = ?'); params.push(q.entityType); }
    if (q.entityId) { where.push('entity_id = ?'); params.push(q.entityId); }
    if (q.action) { where.push('action = ?'); params.push(q.action); }
    if (q.entityIdPrefix) { where.push('entity_id >= ? AND entity_id < ?'); params.push(q.entityIdPrefix, `${q.entityIdPrefix}\uffff`); }
    if (q.since !== undefined) { where.push('time >= ?'); params.push(q.since); }
    params.push(q.limit ?? 10000);
    const rows = await this.uow.read.query(`SELECT * FROM audit_events WHERE ${where.join(' AND ')} ORDER BY seq ${q.newestFirst ? 'DESC' : 'ASC'} LIMIT ?`, params);
    return rows.map((r) => ({
      seq: num(r.seq), time: num(r.time), actor: String(r.actor), action: String(r.action),
      entityType: String(r.entity_type), entityId: String(r.entity_id),
      before: optJsonCol(r.before_json), after: optJsonCol(r.after_json),
      prevHash: String(r.prev_hash), hash: String(r.hash),
    }));
  }

  async listCheckpoints(id?: number): Promise<AuditCheckpoint[]> {
    const rows = id === undefined
      ? await this.uow.read.query('SELECT * FROM audit_checkpoints ORDER BY id')
      : await this.uow.read.query('SELECT * FROM audit_checkpoints WHERE id = ?', [id]);
    return rows.map((r) => ({
      id: num(r.id), seq: num(r.seq), hash: String(r.hash), time: num(r.time), count: num(r.event_count),
      keyId: String(r.key_id), publicKey: String(r.public_key), signature: String(r.signature),
    }));
  }

  async writeCheckpoint(signer: CheckpointSigner, opts: { ifAppended?: boolean } = {}): Promise<AuditCheckpoint | undefined> {
    if (opts.ifAppended && !this.uow.appendedSinceCheckpoint) return undefined;
    this.uow.appendedSinceCheckpoint = false;
    const written = await this.uow.writeUnaudited(async (tx) => {
      const last = await tx.query<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1');
      if (!last[0]) return undefined;
      const latest = await tx.query<{ id: number; seq: number }>('SELECT id, seq FROM audit_checkpoints ORDER BY id DESC LIMIT 1');
      if (latest[0] && Number(latest[0].seq) >= Number(last[0].seq)) return Number(latest[0].id);
      return (await this.uow.insertCheckpoint(tx, signer, Number(last[0].seq), String(last[0].hash))).id;
    });
    return written === undefined ? undefined : (await this.listCheckpoints(written))[0];
  }

  signCheckpoints(signer: CheckpointSigner, every: number): void {
    if (!Number.isSafeInteger(every) || every < 1) throw new RangeError(`checkpoint interval must be a whole number of at least 1, got ${every}`);
    this.uow.checkpoints = { signer, every };
  }

  async registrySnapshot(): Promise<RegistrySnapshot> {
    // One transaction under the write lock: no change lands between the rows and the seq.
    return this.uow.writeUnaudited(async (tx) => {
      const last = await tx.query<{ seq: number }>('SELECT seq FROM audit_events ORDER BY seq DESC LIMIT 1');
      const rows = await tx.query('SELECT m.name AS model, a.alias AS alias, a.version AS version FROM model_aliases a JOIN registered_models m ON m.model_id = a.model_id ORDER BY m.name, a.alias');
      const versions = await tx.query('SELECT m.name AS model, v.version AS version, v.current_stage AS stage, v.source AS source FROM model_versions v JOIN registered_models m ON m.model_id = v.model_id ORDER BY m.name, v.version');
      const datasets = await tx.query('SELECT d.name AS dataset, v.version AS version, v.sha256 AS sha256, v.source AS source FROM dataset_versions v JOIN datasets d ON d.dataset_id = v.dataset_id ORDER BY d.name, v.version');
      return {
        seq: last[0] ? Number(last[0].seq) : 0,
        aliases: rows.map((r) => ({ model: String(r.model), alias: String(r.alias), version: String(r.version) })),
        versions: versions.map((r) => ({ model: String(r.model), version: String(r.version), stage: String(r.stage), source: String(r.source) })),
        datasetVersions: datasets.map((r) => ({ dataset: String(r.dataset), version: String(r.version), sha256: String(r.sha256), source: String(r.source) })),
      };
    });
  }
}
