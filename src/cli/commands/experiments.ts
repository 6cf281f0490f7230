import { Command } from 'commander';
import { TrellisError } from '../../core/errors.js';
import type { Backend } from '../../sdk/backend.js';
import { globals, withBackend } from '../context.js';
import { output, printTable, time } from '../output.js';

/** An experiment by id, or by name when it is not a number. */
export async function findExperiment(b: Backend, ref: string) {
  if (/^\d+$/.test(ref)) return b.getExperiment(ref);
  const e = await b.getExperimentByName(ref);
  if (!e) throw new TrellisError('TRELLIS_EXPERIMENT_NAME_NOT_FOUND', { name: ref });
  return e;
}

export function experimentsCommand(): Command {
  const cmd = new Command('experiments').description('list, create and manage experiments');

  cmd.command('list')
    .description('list experiments')
    .option('--all', 'include deleted experiments')
    .option('--filter <expr>', "MLflow filter, e.g. \"name LIKE 'bike%'\"")
    .action(async (o: { all?: boolean; filter?: string }, c: Command) => {
      await withBackend(c, async (b) => {
        const page = await b.searchExperiments({ filter: o.filter, viewType: o.all ? 'ALL' : 'ACTIVE_ONLY', orderBy: ['experiment_id ASC'] });
        output(!!globals(c).json, () => page.items, () =>
          printTable(page.items.map((e) => ({ id: e.experimentId, name: e.name, stage: e.lifecycleStage, created: time(e.creationTime) })), ['id', 'name', 'stage', 'created']));
      });
    });

  cmd.command('create <name>')
    .description('create an experiment')
    .action(async (name: string, _o: unknown, c: Command) => {
      await withBackend(c, async (b) => {
        const id = await b.createExperiment(name);
        output(!!globals(c).json, () => ({ experiment_id: id }), () => console.log(`created experiment ${id} (${name})`));
      });
    });

  cmd.command('show <id-or-name>')
    .description('show one experiment')
    .action(async (ref: string, _o: unknown, c: Command) => {
      await withBackend(c, async (b) => {
        const e = await findExperiment(b, ref);
        output(!!globals(c).json, () => e, () => {
          console.log(`experiment ${e.experimentId}: ${e.name} (${e.lifecycleStage})`);
          console.log(`  artifacts: ${e.artifactLocation}`);
          console.log(`  created:   ${time(e.creationTime)}`);
          for (const [k, v] of Object.entries(e.tags)) console.log(`  tag ${k} = ${v}`);
        });
      });
    });

  for (const [verb, desc] of [['delete', 'delete an experiment and its runs (restorable)'], ['restore', 'restore a deleted experiment and its runs']] as const) {
    cmd.command(`${verb} <id-or-name>`)
      .description(desc)
      .action(async (ref: string, _o: unknown, c: Command) => {
        await withBackend(c, async (b) => {
          const e = await findExperiment(b, ref);
          if (verb === 'delete') await b.deleteExperiment(e.experimentId);
          else await b.restoreExperiment(e.experimentId);
          output(!!globals(c).json, () => ({ experiment_id: e.experimentId, action: verb }), () => console.log(`${verb}d experiment ${e.experimentId} (${e.name})`));
        });
      });
  }
  return cmd;
}
