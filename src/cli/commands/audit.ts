import { Command } from 'commander';
import { globals, withWorkspace } from '../context.js';
import { output, printTable, time } from '../output.js';

export function auditCommand(): Command {
  const cmd = new Command('audit').description('the tamper-evident audit trail');

  cmd.command('verify')
    .description('walk the hash chain; exit 0 only when no event was altered, removed or reordered')
    .action(async (_o: unknown, c: Command) => {
      const result = await withWorkspace(c, (ws) => ws.audit.verify());
      output(!!globals(c).json, () => result, () => {
        if (result.ok) console.log(`audit chain intact: ${result.checked} events verified`);
        else console.error(`audit chain BROKEN at event ${result.firstBad!.seq} (${result.firstBad!.problem}): ${result.firstBad!.detail}; ${result.checked} events before it verified`);
      });
      if (!result.ok) process.exitCode = 1;
    });

  cmd.command('log')
    .description('print audit events, newest last')
    .option('--after <seq>', 'only events after this sequence number', '0')
    .option('--limit <n>', 'at most this many events', '100')
    .option('--entity <type/id>', 'only events of one entity, e.g. registered_model/bike-demand')
    .action(async (o: { after: string; limit: string; entity?: string }, c: Command) => {
      await withWorkspace(c, async (ws) => {
        const [entityType, ...rest] = o.entity ? o.entity.split('/') : [];
        const events = await ws.audit.events({ afterSeq: Number(o.after), limit: Number(o.limit), entityType, entityId: rest.length ? rest.join('/') : undefined });
        output(!!globals(c).json, () => events, () => printTable(events.map((e) => ({
          seq: e.seq, time: time(e.time), actor: e.actor, action: e.action, entity: `${e.entityType}/${e.entityId}`,
          change: JSON.stringify(e.after ?? e.before).slice(0, 60),
        })), ['seq', 'time', 'actor', 'action', 'entity', 'change']));
      });
    });
  return cmd;
}
