import { Command } from 'commander';
import type { Stage } from '../../store/ports/registry.js';
import { actor, globals, withWorkspace } from '../context.js';
import { output, printTable, time } from '../output.js';

export function modelsCommand(): Command {
  const cmd = new Command('models').description('registered models, versions, aliases and their history');

  cmd.command('list')
    .description('list registered models')
    .option('--filter <expr>', "e.g. \"name LIKE 'bike%'\"")
    .action(async (o: { filter?: string }, c: Command) => {
      await withWorkspace(c, async (ws) => {
        const page = await ws.registry.searchModels({ filter: o.filter, maxResults: 1000 });
        output(!!globals(c).json, () => page.items, () => printTable(page.items.map((m) => ({
          name: m.name, aliases: Object.entries(m.aliases).map(([a, v]) => `@${a}=v${v}`).join(' '),
          latest: m.latestVersions.map((v) => `v${v.version}${v.currentStage === 'None' ? '' : ` (${v.currentStage})`}`).join(', '),
          updated: time(m.lastUpdatedTimestamp),
        })), ['name', 'aliases', 'latest', 'updated']));
      });
    });

  cmd.command('show <name>')
    .description('show a registered model')
    .action(async (name: string, _o: unknown, c: Command) => {
      await withWorkspace(c, async (ws) => {
        const m = await ws.registry.getModel(name);
        output(!!globals(c).json, () => m, () => {
          console.log(`model ${m.name}${m.description ? ` — ${m.description}` : ''}`);
          console.log(`  created ${time(m.creationTimestamp)}, updated ${time(m.lastUpdatedTimestamp)}`);
          for (const [a, v] of Object.entries(m.aliases)) console.log(`  @${a} → version ${v}`);
          for (const [k, v] of Object.entries(m.tags)) console.log(`  tag ${k} = ${v}`);
        });
      });
    });

  cmd.command('versions <name>')
    .description('list the versions of a model')
    .action(async (name: string, _o: unknown, c: Command) => {
      await withWorkspace(c, async (ws) => {
        await ws.registry.getModel(name);
        const page = await ws.registry.searchVersions({ filter: `name = '${name.replace(/'/g, "\\'")}'`, orderBy: ['version_number DESC'], maxResults: 10000 });
        output(!!globals(c).json, () => page.items, () => printTable(page.items.map((v) => ({
          version: v.version, stage: v.currentStage, aliases: v.aliases.map((a) => `@${a}`).join(' '), run_id: v.runId, created: time(v.creationTimestamp), source: v.source,
        })), ['version', 'stage', 'aliases', 'run_id', 'created', 'source']));
      });
    });

  cmd.command('alias <name> <alias> [version]')
    .description('point an alias (e.g. champion) at a version, or show or --delete it')
    .option('--delete', 'remove the alias')
    .action(async (name: string, alias: string, version: string | undefined, o: { delete?: boolean }, c: Command) => {
      await withWorkspace(c, async (ws) => {
        if (o.delete) {
          await ws.registry.deleteAlias(name, alias, actor(c));
          output(!!globals(c).json, () => ({ name, alias, version: null }), () => console.log(`removed ${name}@${alias}`));
          return;
        }
        if (version !== undefined) await ws.registry.setAlias(name, alias, version, actor(c));
        const v = await ws.registry.getVersionByAlias(name, alias);
        output(!!globals(c).json, () => v, () => console.log(`${name}@${alias} → version ${v.version}`));
      });
    });

  cmd.command('stage <name> <version> <stage>')
    .description('move a version to a stage (None, Staging, Production, Archived)')
    .option('--archive-existing', 'archive the versions already in that stage')
    .action(async (name: string, version: string, stage: string, o: { archiveExisting?: boolean }, c: Command) => {
      await withWorkspace(c, async (ws) => {
        const v = await ws.registry.transitionStage(name, version, stage as Stage, !!o.archiveExisting, actor(c));
        output(!!globals(c).json, () => v, () => console.log(`${name} version ${v.version} is now in ${v.currentStage}`));
      });
    });

  cmd.command('history <name>')
    .description('which version held each alias and stage, from when to when, and who moved it')
    .option('--alias <alias>', 'only this alias, e.g. champion')
    .option('--stage <stage>', 'only this stage, e.g. Production')
    .action(async (name: string, o: { alias?: string; stage?: string }, c: Command) => {
      await withWorkspace(c, async (ws) => {
        const h = await ws.registry.history(name, o);
        output(!!globals(c).json, () => h, () => printTable(h.map((iv) => ({
          what: iv.kind === 'alias' ? `@${iv.label}` : iv.label, version: iv.version,
          from: time(iv.from), to: iv.to === undefined ? '(now)' : time(iv.to), set_by: iv.setBy, ended_by: iv.endedBy ?? '',
        })), ['what', 'version', 'from', 'to', 'set_by', 'ended_by'], `no alias or stage history for ${name}`));
      });
    });
  return cmd;
}
