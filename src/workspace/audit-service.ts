/**
 * The audit trail as users read it: events in commit order, and the check that no event was
 * altered, removed or reordered. Read-only on purpose: events are written only by the stores,
 * inside the transaction of the change they record.
 */
import { verifyStoredChain, type AuditVerification } from '../store/audit-chain.js';
import type { AuditEvent, AuditLog, AuditQuery } from '../store/ports/audit.js';

export class AuditService {
  constructor(private readonly log: AuditLog) {}

  events(q: AuditQuery = {}): Promise<AuditEvent[]> {
    return this.log.listAuditEvents(q);
  }

  /** Walks the whole hash chain. */
  verify(): Promise<AuditVerification> {
    return verifyStoredChain((q) => this.log.listAuditEvents(q));
  }
}
