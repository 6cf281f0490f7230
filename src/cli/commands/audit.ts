import { Command } from 'commander';
import { invalid } from '../../core/errors.js';
import type { AuditVerification } from '../../store/audit-chain.js';
import { globals, withBackend, withWorkspace } from '../context.js';
import { output, printTable, time } from '../output.js';

const DEFAULT_LOG_LIMIT = 50;
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const ISO = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;

/** `--since`: an ISO 8601 date or date-time, or a duration before `now` (`30m`, `2h`, `7d`, `1w`). */
export function parseSince(text: string, now: number, option = '--since'): number {
  const t = text.trim();
  const rel = /^(\d+)\s*([smhdw])$/i.exec(t);
  if (rel) return now - Number(rel[1]) * UNIT_MS[rel[2]!.toLowerCase()]!;
  const ms = ISO.test(t) ? Date.parse(t.replace(' ', 'T')) : Number.NaN;
  if (!Number.isFinite(ms)) {
    throw invalid(`${option} takes an ISO 8601 date or date-time (2026-03-01, 2026-03-01T12:00Z) or a duration ago (30m, 2h, 7d, 1w), got '${text}'`);
  }
  return ms;
}

function parseLimit(text: string): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw invalid(`--limit must be a whole number of at least 1, got '${text}'`);
  return n;
}

export function auditCommand(): Command {
  const cmd = new Command('audit').description('the tamper-evident audit trail');

  cmd.command('verify')
    .description('walk the hash chain and check the signed checkpoints and the aliases; exit 0 only when no event was altered, removed or reordered')
    .option('--public-key <file>', "verify the checkpoints with this PEM public key (an auditor's copy of audit-signing.pub) instead of the signing key file's; local stores only")
    .action(async (o: { publicKey?: string }, c: Command) => {
      const result: AuditVerification = o.publicKey !== undefined
        ? await withWorkspace(c, (ws) => ws.audit.verify({ publicKeyFile: o.publicKey }))
        : await withBackend(c, (b) => b.verifyAudit());
      output(!!globals(c).json, () => result, () => {
        const cps = result.checkpoints ? `, ${result.checkpoints} signed checkpoints` : '';
        if (result.ok) {
          console.log(`audit chain intact: ${result.checked} events verified${cps}`);
          return;
        }
        const first = result.firstBad!;
        const verified = result.checked < first.seq ? `${result.checked} events before it verified` : `the hash chain itself links up over ${result.checked} events`;
        console.error(`audit chain BROKEN at event ${first.seq} (${first.problem}): ${first.detail}; ${verified}`);
        for (const p of (result.problems ?? []).filter((p) => p !== first.detail)) console.error(`  also: ${p}`);
      });
      if (!result.ok) process.exitCode = 1;
    });

  cmd.command('checkpoint')
    .description('sign a checkpoint of the last audit event now, with the signing key of the store ($TRELLIS_AUDIT_KEY_FILE, else audit-signing.key beside a SQLite database, else in $TRELLIS_HOME)')
    .action(async (_o: unknown, c: Command) => {
      await withWorkspace(c, async (ws) => {
        const cp = await ws.audit.checkpoint();
        output(!!globals(c).json, () => cp ?? null, () => {
          if (!cp) console.log('the audit trail is empty: nothing to checkpoint');
          else console.log(`checkpoint ${cp.id}: event ${cp.seq} (${cp.count} events), hash ${cp.hash}, signed ${time(cp.time)} with key ${cp.keyId.slice(0, 16)}… (${ws.audit.keyFile})`);
        });
      });
    });

  cmd.command('log')
    .description('print audit events, newest first')
    .option('--since <time>', "only events at or after this time: ISO 8601 (2026-03-01, 2026-03-01T12:00Z) or a duration ago (30m, 2h, 7d)")
    .option('--after <seq>', 'only events after this sequence number', '0')
    .option('--limit <n>', 'at most this many events (the newest)', String(DEFAULT_LOG_LIMIT))
    .option('--entity <type/id>', 'only events of one entity, e.g. registered_model/bike-demand')
    .action(async (o: { since?: string; after: string; limit: string; entity?: string }, c: Command) => {
      const limit = parseLimit(o.limit);
      const since = o.since === undefined ? undefined : parseSince(o.since, Date.now());
      await withBackend(c, async (b) => {
        const [entityType, ...rest] = o.entity ? o.entity.split('/') : [];
        const events = await b.auditEvents({
          afterSeq: Number(o.after), limit, since, newestFirst: true, entityType, entityId: rest.length ? rest.join('/') : undefined,
        });
        output(!!globals(c).json, () => events, () => printTable(events.map((e) => ({
          seq: e.seq, time: time(e.time), actor: e.actor, action: e.action, entity: `${e.entityType}/${e.entityId}`,
          change: JSON.stringify(e.after ?? e.before).slice(0, 60),
        })), ['seq', 'time', 'actor', 'action', 'entity', 'change']));
      });
    });
  return cmd;
}
