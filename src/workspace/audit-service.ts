/**
 * The audit trail as users read it: events in commit order, and the check that no event was
 * altered, removed or reordered. Events are written only by the stores, inside the transaction of
 * the change they record; this service adds the signed checkpoints (every N events, on close, and
 * on demand), signed with a key kept outside the store (`store/audit-signing.ts`).
 */
import { invalid } from '../core/errors.js';
import { verifyStoredTrail, type AuditVerification } from '../store/audit-chain.js';
import { auditKeyFile, fileSigner, trustedKey } from '../store/audit-signing.js';
import { trellisHome } from '../store/open-stores.js';
import type { AuditCheckpoint, AuditEvent, AuditLog, AuditQuery } from '../store/ports/audit.js';

export const DEFAULT_CHECKPOINT_EVERY = 1000;

export interface AuditServiceOptions {
  /** The signing key (the workspace gives `defaultAuditKeyFile` of its store); default `$TRELLIS_AUDIT_KEY_FILE`, else `$TRELLIS_HOME/audit-signing.key`. */
  keyFile?: string;
  /** A checkpoint every this many events: default `$TRELLIS_AUDIT_CHECKPOINT_EVERY`, else 1000. */
  checkpointEvery?: number;
}

function checkpointEvery(env: NodeJS.ProcessEnv): number {
  const text = env.TRELLIS_AUDIT_CHECKPOINT_EVERY?.trim();
  if (!text) return DEFAULT_CHECKPOINT_EVERY;
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw invalid(`TRELLIS_AUDIT_CHECKPOINT_EVERY must be a whole number of events, at least 1, got '${text}'`);
  return n;
}

export class AuditService {
  /** The private key file checkpoints are signed with. */
  readonly keyFile: string;
  private readonly signer: ReturnType<typeof fileSigner>;

  constructor(private readonly log: AuditLog, opts: AuditServiceOptions = {}) {
    this.keyFile = opts.keyFile ?? auditKeyFile(trellisHome());
    this.signer = fileSigner(this.keyFile);
    this.log.signCheckpoints(this.signer, opts.checkpointEvery ?? checkpointEvery(process.env));
  }

  events(q: AuditQuery = {}): Promise<AuditEvent[]> {
    return this.log.listAuditEvents(q);
  }

  checkpoints(): Promise<AuditCheckpoint[]> {
    return this.log.listCheckpoints();
  }

  /** Signs a checkpoint of the last event now (unless one covers it already); undefined while the trail is empty. */
  async checkpoint(): Promise<AuditCheckpoint | undefined> {
    void this.signer.keyId; // reads (or creates) the key now: an unusable key is refused even when nothing is signed
    return this.log.writeCheckpoint(this.signer);
  }

  /**
   * Walks the hash chain, checks every checkpoint's signature with `publicKeyFile` (an auditor's
   * copy of the public key) or the signing key file's own key — never a key read from the store —
   * that the chain still reaches each checkpointed hash and the last checkpoint's event, and that
   * the registry's aliases, model versions and stages are what the chain says.
   */
  async verify(opts: { publicKeyFile?: string } = {}): Promise<AuditVerification> {
    const key = trustedKey(this.keyFile, opts.publicKeyFile);
    const registry = await this.log.registrySnapshot();
    const checkpoints = await this.log.listCheckpoints();
    return verifyStoredTrail({ list: (q) => this.log.listAuditEvents(q), checkpoints, key, registry });
  }

  /** On shutdown: a checkpoint of the events written since the last one, when this process wrote any. */
  async close(): Promise<void> {
    await this.log.writeCheckpoint(this.signer, { ifAppended: true });
  }
}
