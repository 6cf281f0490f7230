/**
 * The unit of work every SQL port writes through: the one driver, the one clock, and the audit
 * append. `write` runs a change in one transaction and hands it the means to append the change's
 * audit event inside that same transaction — the only place an audit event is written — so that
 * there is no state change without its record, and the chain's order is the commit order (writers
 * are serialised by the driver).
 *
 * The ports share one instance: a change that spans concepts (a model version checks its run, a
 * dataset version is audited with its dataset) is one `write`, never two ports' public calls in
 * separate transactions.
 */
import type { Clock } from '../../core/clock.js';
import { canonicalJson } from '../../core/hash.js';
import { GENESIS_HASH, auditHash, signCheckpoint } from '../audit-chain.js';
import type { AuditCheckpoint, CheckpointSigner } from '../ports/audit.js';
import type { Actor } from '../ports/common.js';
import type { SqlDialect, SqlDriver, SqlExecutor } from './sql-driver.js';

/** Appends one audit event, by the writer's actor, to the chain inside the current transaction. */
export type AppendAudit = (action: string, entityType: string, entityId: string, before: unknown, after: unknown) => Promise<void>;

/** The platform's own changes (the Default experiment, …). */
export const PLATFORM: Actor = { actor: 'trellis' };

export class UnitOfWork {
  constructor(readonly db: SqlDriver, readonly clock: Clock) {}

  /** When set, every `every`-th event's transaction also signs a checkpoint of it. */
  checkpoints?: { signer: CheckpointSigner; every: number };

  /** Whether this process appended events since its last checkpoint (set when an event is inserted). */
  appendedSinceCheckpoint = false;

  get dialect(): SqlDialect {
    return this.db.dialect;
  }

  /** Reads outside a transaction: they see committed data only. */
  get read(): SqlExecutor {
    return this.db;
  }

  now(): number {
    return this.clock.now();
  }

  /** Runs `fn` as one write transaction whose audit events are `who`'s. */
  write<T>(who: Actor, fn: (tx: SqlExecutor, audit: AppendAudit) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) =>
      fn(tx, (action, entityType, entityId, before, after) => this.append(tx, who, action, entityType, entityId, before, after)));
  }

  /** A write that changes no state worth a record (a sign of life): one transaction, no audit event. */
  writeUnaudited<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.db.transaction(fn);
  }

  private async append(
    tx: SqlExecutor, who: Actor, action: string, entityType: string, entityId: string, before: unknown, after: unknown,
  ): Promise<void> {
    const last = await tx.query<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1');
    const prevHash = last[0]?.hash ?? GENESIS_HASH;
    const seq = (last[0] ? Number(last[0].seq) : 0) + 1;
    const e = { seq, time: this.clock.now(), actor: who.actor, action, entityType, entityId, before: before ?? null, after: after ?? null };
    const hash = auditHash(prevHash, e);
    await tx.run(
      'INSERT INTO audit_events (seq, time, actor, action, entity_type, entity_id, before_json, after_json, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?)',
      [seq, e.time, e.actor, action, entityType, entityId, canonicalJson(e.before), canonicalJson(e.after), prevHash, hash],
    );
    this.appendedSinceCheckpoint = true;
    if (this.checkpoints && seq % this.checkpoints.every === 0) await this.insertCheckpoint(tx, this.checkpoints.signer, seq, hash);
  }

  /** Signs and stores a checkpoint of event `seq` inside the current transaction. */
  async insertCheckpoint(tx: SqlExecutor, signer: CheckpointSigner, seq: number, hash: string): Promise<AuditCheckpoint> {
    const last = await tx.query<{ id: number }>('SELECT id FROM audit_checkpoints ORDER BY id DESC LIMIT 1');
    const id = (last[0] ? Number(last[0].id) : 0) + 1;
    // Events are numbered 1..n without gaps: the trail holds `seq` events.
    const c = signCheckpoint(signer, { id, seq, hash, time: this.clock.now(), count: seq });
    await tx.run(
      'INSERT INTO audit_checkpoints (id, seq, hash, time, event_count, key_id, public_key, signature) VALUES (?,?,?,?,?,?,?,?)',
      [c.id, c.seq, c.hash, c.time, c.count, c.keyId, c.publicKey, c.signature],
    );
    return c;
  }
}
