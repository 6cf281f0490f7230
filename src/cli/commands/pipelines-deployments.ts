/**
 * How deployed pipelines run, and changing it safely: `trellis pipelines list` and `status <name>`
 * show the version each one's triggers run and whether they fire; `pause` and `resume-triggers`
 * stop and restart its cron, dataset and upstream triggers; `undeploy <name>[@version]` takes it (or
 * one version) out of service, keeping every version on record; `rollback <name> --to <version>`
 * runs an earlier version until the next deploy. Each change is audited. On the local workspace,
 * or on a server (`--server <url>`, or the tracking URI in the environment).
 */
import { Command } from 'commander';
import { invalid } from '../../core/errors.js';
import { parseRef } from '../../core/refs.js';
import type { DeploymentChange, PipelineDeployment, PipelineVersion } from '../../store/ports/pipelines.js';
import { actor, globals, serverChoice, withWorkspace } from '../context.js';
import { output, printTable, time } from '../output.js';
import { rest } from './pipelines-triggers.js';

/** A deployment from the REST shape (snake_case) back to the store's. */
function fromJson(d: Record<string, unknown>): PipelineDeployment {
  const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return {
    name: String(d.name), active: n(d.active_version), latest: Number(d.latest_version), pinned: n(d.pinned_version), paused: d.paused === true,
    undeployed: d.undeployed === true, withdrawn: Array.isArray(d.withdrawn_versions) ? d.withdrawn_versions.map(Number) : [],
    changedAt: n(d.changed_at), changedBy: typeof d.changed_by === 'string' ? d.changed_by : null,
  };
}

/** What a person reads: `active` with what keeps it so, `paused`, `undeployed`. */
function stateOf(d: PipelineDeployment): string {
  if (d.undeployed) return 'undeployed';
  if (d.active === null) return 'every version withdrawn';
  const why = d.pinned !== null ? `rolled back to ${d.pinned}` : '';
  return [d.paused ? 'triggers paused' : 'active', why].filter(Boolean).join(', ');
}

/** `name` or `name@3` (also `name/3`, `name@v3`) → the name and the version, if any: pipeline versions are numbers. */
export function nameAndVersion(ref: string): { name: string; version?: number } {
  const p = parseRef(ref);
  if (p.selector && p.selector.kind !== 'version') throw invalid(`'${ref}': a pipeline version is a number (e.g. ${p.name}@2), got '${ref.slice(p.name.length + 1)}'`);
  return { name: p.name, ...(p.selector ? { version: p.selector.version } : {}) };
}

function versionNumber(raw: string, flag: string): number {
  const v = raw.replace(/^v/, '');
  if (!/^[1-9][0-9]{0,15}$/.test(v)) throw invalid(`${flag} takes a version number (e.g. ${flag} 2), got '${raw}'`);
  return Number(v);
}

/** The server named by --server (or the tracking URI in the environment), if any. */
const serverOf = (c: Command) => serverChoice(c)?.url;

async function change(c: Command, name: string, ch: DeploymentChange): Promise<PipelineDeployment> {
  const server = serverOf(c);
  if (server) {
    const body = { name, ...('version' in ch && ch.version !== undefined ? { version: ch.version } : {}) };
    return fromJson((await rest(server, 'POST', `/pipelines/${ch.action}`, body)).deployment as Record<string, unknown>);
  }
  return withWorkspace(c, (ws) => ws.pipelines.changeDeployment(name, ch, actor(c)));
}

function report(c: Command, d: PipelineDeployment, line: string): void {
  output(!!globals(c).json, () => d, () => console.log(line));
}

export function pipelinesDeploymentCommands(): Command[] {
  const list = new Command('list')
    .description('deployed pipelines: the version each one\'s triggers run, the newest, and whether its triggers fire')
    .action(async (_o: unknown, c: Command) => {
      const server = serverOf(c);
      const all = server
        ? ((await rest(server, 'GET', '/pipelines/deployments')).deployments as Record<string, unknown>[]).map(fromJson)
        : await withWorkspace(c, (ws) => ws.pipelines.deployments());
      output(!!globals(c).json, () => all, () => printTable(all.map((d) => ({
        pipeline: d.name, active: d.active ?? '', latest: d.latest, state: stateOf(d), changed: d.changedAt ? time(d.changedAt) : '', by: d.changedBy ?? '',
      })), ['pipeline', 'active', 'latest', 'state', 'changed', 'by'], '(no deployed pipelines)'));
    });

  const status = new Command('status')
    .description('how a pipeline is deployed, and its versions (* the one its triggers run)')
    .argument('<name>', 'the deployed pipeline')
    .action(async (name: string, _o: unknown, c: Command) => {
      const server = serverOf(c);
      let d: PipelineDeployment;
      let versions: Pick<PipelineVersion, 'version' | 'irVersion' | 'packageSha256' | 'createdBy' | 'createdAt'>[];
      if (server) {
        d = fromJson((await rest(server, 'GET', `/pipelines/deployment?name=${encodeURIComponent(name)}`)).deployment as Record<string, unknown>);
        versions = ((await rest(server, 'GET', `/pipelines/versions?name=${encodeURIComponent(name)}`)).pipeline_versions as Record<string, unknown>[]).map((v) => ({
          version: Number(v.version), irVersion: String(v.ir_version), packageSha256: String(v.package_sha256), createdBy: String(v.created_by), createdAt: Number(v.created_at),
        }));
      } else {
        [d, versions] = await withWorkspace(c, async (ws) => [await ws.pipelines.deployment(name), await ws.pipelines.versions(name)] as const);
      }
      output(!!globals(c).json, () => ({ deployment: d, versions }), () => {
        console.log(`${d.name}: ${d.active === null ? stateOf(d) : `version ${d.active} runs (${stateOf(d)})`}`);
        printTable(versions.map((v) => ({
          ' ': v.version === d.active ? '*' : '', version: v.version, label: v.irVersion, sha256: v.packageSha256.slice(0, 12),
          deployed: time(v.createdAt), by: v.createdBy, note: d.withdrawn.includes(v.version) ? 'withdrawn' : '',
        })), [' ', 'version', 'label', 'sha256', 'deployed', 'by', 'note'], '(no versions)');
      });
    });

  const pause = new Command('pause')
    .description("stop a pipeline's cron, dataset and upstream-pipeline triggers (a run asked for with `pipelines trigger` still runs)")
    .argument('<name>', 'the deployed pipeline')
    .action(async (name: string, _o: unknown, c: Command) => {
      const d = await change(c, name, { action: 'pause' });
      report(c, d, `${d.name}: triggers paused (version ${d.active ?? 'none'}); trellis pipelines resume-triggers ${d.name} lets them fire again`);
    });

  const resume = new Command('resume-triggers')
    .description('let a paused pipeline\'s triggers fire again, counting events from now (what they missed while paused does not fire)')
    .argument('<name>', 'the deployed pipeline')
    .action(async (name: string, _o: unknown, c: Command) => {
      const d = await change(c, name, { action: 'resume-triggers' });
      report(c, d, `${d.name}: triggers fire again (version ${d.active ?? 'none'})`);
    });

  const undeploy = new Command('undeploy')
    .description('take a pipeline out of service (no trigger runs it), or with @version only that version (the newest other one runs); every version stays on record')
    .argument('<name[@version]>', 'the pipeline, or one of its versions')
    .action(async (ref: string, _o: unknown, c: Command) => {
      const { name, version } = nameAndVersion(ref);
      const d = await change(c, name, { action: 'undeploy', ...(version ? { version } : {}) });
      report(c, d, version
        ? `${d.name}: version ${version} withdrawn; ${d.active === null ? 'no version is in service' : `version ${d.active} runs`}`
        : `${d.name}: undeployed; trellis pipelines rollback ${d.name} --to <version> or a new deploy puts a version back`);
    });

  const rollback = new Command('rollback')
    .description('run an earlier version of a pipeline instead of the newest, until the next deploy')
    .argument('<name>', 'the deployed pipeline')
    .requiredOption('--to <version>', 'the version to run')
    .action(async (name: string, o: { to: string }, c: Command) => {
      const d = await change(c, name, { action: 'rollback', version: versionNumber(o.to, '--to') });
      report(c, d, `${d.name}: version ${d.active} runs${d.paused ? ' (triggers paused)' : ''}`);
    });

  return [list, status, pause, resume, undeploy, rollback];
}
