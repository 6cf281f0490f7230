import { Command } from 'commander';
import { invalid } from '../../core/errors.js';
import { parseRef } from '../../core/refs.js';
import type { ModelVersion, Stage } from '../../store/ports/registry.js';
import type { Backend } from '../../sdk/backend.js';
import { globals, withBackend } from '../context.js';
import { output, printTable, time } from '../output.js';

export function modelsCommand(): Command {
  const cmd = new Command('models').description('registered models, versions, aliases and their history');

  cmd.command('list')
    .description('list registered models')
    .option('--filter <expr>', "e.g. \"name LIKE 'bike%'\"")
    .action(async (o: { filter?: string }, c: Command) => {
      await withBackend(c, async (b) => {
        const page = await b.searchModels({ filter: o.filter, maxResults: 1000 });
        output(!!globals(c).json, () => page.items, () => printTable(page.items.map((m) => ({
          name: m.name, aliases: Object.entries(m.aliases).map(([a, v]) => `@${a}=v${v}`).join(' '),
          latest: m.latestVersions.map((v) => `v${v.version}${v.currentStage === 'None' ? '' : ` (${v.currentStage})`}`).join(', '),
          updated: time(m.lastUpdatedTimestamp),
        })), ['name', 'aliases', 'latest', 'updated']));
      });
    });

  cmd.command('show <model>')
    .description('show a registered model (name), or a model with one version selected (name@version, name@alias, name@latest, name/version)')
    .action(async (ref: string, _o: unknown, c: Command) => {
      await withBackend(c, async (b) => {
        const { model: m, version: selected } = await b.lookupModel(ref);
        const versions = await allVersions(b, m.name);
        output(!!globals(c).json, () => (selected ? { ...m, selected } : m), () => {
          console.log(`model ${m.name}${m.description ? ` — ${m.description}` : ''}`);
          console.log(`  created ${time(m.creationTimestamp)}, updated ${time(m.lastUpdatedTimestamp)}`);
          for (const [a, v] of Object.entries(m.aliases)) console.log(`  @${a} → version ${v}`);
          for (const [k, v] of Object.entries(m.tags)) console.log(`  tag ${k} = ${v}`);
          if (selected) {
            console.log(`\nselected: ${m.name} version ${selected.version} (${ref.trim()})`);
            console.log(`  stage ${selected.currentStage}${selected.aliases.length ? `, aliases ${selected.aliases.map((x) => `@${x}`).join(' ')}` : ''}, created ${time(selected.creationTimestamp)}`);
            console.log(`  run ${selected.runId ?? '(none)'}, source ${selected.source}`);
            if (selected.description) console.log(`  ${selected.description}`);
            for (const [k, v] of Object.entries(selected.tags)) console.log(`  tag ${k} = ${v}`);
          }
          if (versions.length) {
            console.log('');
            printVersions(versions, selected?.version);
          }
        });
      });
    });

  cmd.command('versions <model>')
    .description('list the versions of a model (name, or a reference such as name@champion to mark that version)')
    .action(async (ref: string, _o: unknown, c: Command) => {
      await withBackend(c, async (b) => {
        const { model, version: selected } = await b.lookupModel(ref);
        const versions = await allVersions(b, model.name);
        output(!!globals(c).json, () => versions, () => printVersions(versions, selected?.version));
      });
    });

  cmd.command('alias <model> <alias> [version]')
    .description('point an alias (e.g. champion) at a version — `alias income champion 3` or `alias income@3 champion` — or show or --delete it')
    .option('--delete', 'remove the alias')
    .action(async (ref: string, alias: string, version: string | undefined, o: { delete?: boolean }, c: Command) => {
      await withBackend(c, async (b) => {
        const p = parseRef(ref);
        const name = p.name;
        if (o.delete) {
          if (p.selector || version !== undefined) throw invalid(`--delete removes the alias whatever version it points at: write \`trellis models alias ${name} ${alias} --delete\``);
          await b.deleteAlias(name, alias);
          output(!!globals(c).json, () => ({ name, alias, version: null }), () => console.log(`removed ${name}@${alias}`));
          return;
        }
        const target = p.selector || version !== undefined ? await versionOf(b, ref, version) : undefined;
        if (target) await b.setAlias(name, alias, target.version);
        const v = await b.resolveModelVersion({ name, selector: { kind: 'alias', alias } });
        output(!!globals(c).json, () => v, () => console.log(`${name}@${alias} → version ${v.version}`));
      });
    });

  cmd.command('stage <model> <version-or-stage> [stage]')
    .description('move a version to a stage (None, Staging, Production, Archived): `stage income 3 Production` or `stage income@champion Production`')
    .option('--archive-existing', 'archive the versions already in that stage')
    .action(async (ref: string, second: string, third: string | undefined, o: { archiveExisting?: boolean }, c: Command) => {
      const [version, stage] = third === undefined ? [undefined, second] : [second, third];
      await withBackend(c, async (b) => {
        const target = await versionOf(b, ref, version);
        const v = await b.transitionStage(target.name, target.version, stage as Stage, !!o.archiveExisting);
        output(!!globals(c).json, () => v, () => console.log(`${v.name} version ${v.version} is now in ${v.currentStage}`));
      });
    });

  cmd.command('history <model>')
    .description('which version held each alias and stage, from when to when, and who moved it (name, or name@version / name@alias for one version)')
    .option('--alias <alias>', 'only this alias, e.g. champion')
    .option('--stage <stage>', 'only this stage, e.g. Production')
    .action(async (ref: string, o: { alias?: string; stage?: string }, c: Command) => {
      await withBackend(c, async (b) => {
        const { model, version } = await b.lookupModel(ref);
        const name = model.name;
        const h = (await b.modelHistory(name, o)).filter((iv) => !version || iv.version === version.version);
        output(!!globals(c).json, () => h, () => printTable(h.map((iv) => ({
          what: iv.kind === 'alias' ? `@${iv.label}` : iv.label, version: iv.version,
          from: time(iv.from), to: iv.to === undefined ? '(now)' : time(iv.to), set_by: iv.setBy, ended_by: iv.endedBy ?? '',
        })), ['what', 'version', 'from', 'to', 'set_by', 'ended_by'], `no alias or stage history for ${name}${version ? ` version ${version.version}` : ''}`));
      });
    });
  return cmd;
}

/** Every version of a model, newest first. */
async function allVersions(b: Backend, name: string): Promise<ModelVersion[]> {
  const page = await b.searchModelVersions({ filter: `name = '${name.replace(/'/g, "\\'")}'`, orderBy: ['version_number DESC'], maxResults: 10000 });
  return page.items;
}

function printVersions(versions: ModelVersion[], selected: string | undefined): void {
  printTable(versions.map((v) => ({
    version: selected === undefined ? v.version : `${v.version === selected ? '*' : ' '} ${v.version}`,
    stage: v.currentStage, aliases: v.aliases.map((a) => `@${a}`).join(' '), run_id: v.runId, created: time(v.creationTimestamp), source: v.source,
  })), ['version', 'stage', 'aliases', 'run_id', 'created', 'source']);
}

/**
 * The version a command acts on: a reference (`income@3`, `income@champion`, `income/3`), or a
 * model name and a version argument (`3`, `v3`, `latest`, an alias, or a reference to the same model).
 */
async function versionOf(b: Backend, ref: string, version: string | undefined): Promise<ModelVersion> {
  const p = parseRef(ref);
  if (version === undefined) {
    if (!p.selector) throw invalid(`'${p.name}' names a model, not one of its versions: write ${p.name}@<version> (or ${p.name}@<alias>), or give the version after the name`);
    return b.resolveModelVersion(p);
  }
  const given = /[@/]/.test(version) ? parseRef(version) : parseRef(`${p.name}@${version}`);
  if (given.name !== p.name) throw invalid(`'${version}' is a version of model '${given.name}', not of '${p.name}'`);
  if (!given.selector) throw invalid(`'${version}' names no version`);
  const v = await b.resolveModelVersion(given);
  if (p.selector) {
    const first = await b.resolveModelVersion(p);
    if (first.version !== v.version) throw invalid(`'${ref}' is version ${first.version} but '${version}' is version ${v.version}: give the version once`);
  }
  return v;
}
