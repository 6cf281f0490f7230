/**
 * Reads the audit chain. Events are appended only by {@link UnitOfWork.write}, inside the
 * transaction of the change they record; this adapter never writes.
 */
import type { AuditEvent, AuditLog, AuditQuery } from '../ports/audit.js';
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
}
