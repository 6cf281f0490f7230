import { pipelinesStepCommand } from './pipelines-step.js';
import { pipelinesRerunCommand } from './pipelines-rerun.js';
import { pipelinesTriggerCommand, pipelinesTriggersCommand } from './pipelines-triggers.js';
import { pipelinesDeployCommand } from './pipelines-deploy.js';
import { Command } from 'commander';
import { dirname, join, resolve } from 'node:path';
import { invalid } from '../../core/errors.js';
import type { InputValue, PipelineIR, Scalar } from '../../pipelines/ir.js';
import type { LoadedPipeline } from '../../pipelines/load.js';
import type { Finding } from '../../pipelines/lint.js';
import type { PipelineRunResult } from '../../pipelines/engine/index.js';
import type { Workspace } from '../../workspace/workspace.js';
import { actor, globals, withWorkspace } from '../context.js';
import { output, printJson, printTable } from '../output.js';
import { RunProgress, runSummary } from '../progress.js';

/**
 * Reads a pipeline file: JSON or YAML text, or a module whose default export is a pipeline (made
 * with the SDK's `pipeline()`); `.ts` modules load through tsx. `locate` is there for text only.
 */
export async function loadPipelineFile(file: string): Promise<LoadedPipeline> {
  const { loadPipelineFile: load } = await import('../../pipelines/load.js');
  return load(file);
}

/** `--param trees=300 dataset=bike@3` → values typed as the pipeline declares them. */
export function paramValues(ir: PipelineIR, raw: string[] | undefined): Record<string, Scalar> | undefined {
  if (!raw) return undefined;
  const out: Record<string, Scalar> = {};
  for (const kv of raw) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw invalid(`--param takes name=value, got '${kv}'`);
    const name = kv.slice(0, eq);
    const text = kv.slice(eq + 1);
    const type = ir.params.find((p) => p.name === name)?.type;
    const n = text.trim() === '' ? Number.NaN : Number(text);
    out[name] = (type === 'number' || type === 'integer') && Number.isFinite(n) ? n
      : type === 'boolean' && (text === 'true' || text === 'false') ? text === 'true' : text;
  }
  return out;
}


const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

function showInput(v: InputValue): string {
  if (typeof v === 'object') return 'param' in v ? `params.${v.param}` : `${v.step}.${v.output}`;
  return JSON.stringify(v);
}

// ---- running pipelines (`trellis run`, `trellis pipelines resume`) ----

/** Live progress of a run on stderr: redrawn in place on a terminal, a line per event elsewhere. */
export function progressOnStderr(steps?: readonly string[]): RunProgress {
  return new RunProgress(process.stderr, { steps });
}

/** The steps of a recorded pipeline run in the order they run, when its IR can be read (else the progress learns them from events). */
export async function recordedSteps(ws: Workspace, runId: string): Promise<string[] | undefined> {
  try {
    const { topologicalOrder, validatePipeline } = await import('../../pipelines/ir.js');
    return topologicalOrder(validatePipeline(JSON.parse((await ws.tracking.readArtifact(runId, 'pipeline.json')).toString('utf8')), `run ${runId}`));
  } catch {
    return undefined;
  }
}

/** A runner whose steps run in this process, whatever queue the workspace names. */
export async function pipelineEngine(ws: Workspace, who: { actor: string }) {
  return (await ws.pipelines.openEngine(who, { queue: 'inline' })).engine;
}

/** The summary of a pipeline run: JSON, or the step table with outputs, registered versions and the total time. */
export function reportRun(json: boolean, r: PipelineRunResult): void {
  output(json, () => r, () => process.stdout.write(runSummary(r)));
  if (r.failed) {
    console.error(r.status === 'KILLED'
      ? `error: pipeline run ${r.runId} was cancelled during step '${r.failed.step}'`
      : `error: pipeline run ${r.runId} failed at step '${r.failed.step}': ${r.failed.error}`);
    process.exitCode = r.status === 'KILLED' ? 130 : 1;
  }
}

export function pipelinesCommand(): Command {
  const cmd = new Command('pipelines').description('pipelines: check and inspect pipeline definitions (JSON, YAML or TypeScript)');

  cmd.command('lint <file>')
    .description('check a pipeline (.json, .yaml, .yml, or a .ts/.js module exporting it by default); exits 1 on any error')
    .option('--param <name=value...>', 'values for the run: parameters without a default must then be given')
    .action(async (file: string, o: { param?: string[] }, c: Command) => {
      const src = await loadPipelineFile(file);
      const { lintPipeline, hasErrors } = await import('../../pipelines/lint.js');
      const { formatPath, pipelineHash } = await import('../../pipelines/ir.js');
      const findings = lintPipeline(src.ir, { params: paramValues(src.ir, o.param), locate: src.locate });
      const errors = findings.filter((f) => f.severity === 'error').length;
      const warnings = findings.length - errors;
      if (globals(c).json) {
        printJson({ source: file, name: src.ir.name, version: src.ir.version, hash: pipelineHash(src.ir), errors, warnings, findings });
      } else {
        const head = `${src.ir.name} ${src.ir.version} (${file}): ${count(src.ir.steps.length, 'step')}`;
        if (!findings.length) console.log(`${head}, no findings`);
        else {
          console.log(`${head}, ${count(errors, 'error')}, ${count(warnings, 'warning')}`);
          const at = (f: Finding) => (f.line ? `${file}:${f.line}` : f.path ? formatPath(f.path) : '');
          printTable(findings.map((f) => ({ ...f, at: at(f) })), ['severity', 'check', 'at', 'message']);
        }
      }
      if (hasErrors(findings)) process.exitCode = 1;
    });

  cmd.command('show <file>')
    .description('print the steps of a pipeline in the order they can run, with their components and inputs (--json: the IR)')
    .action(async (file: string, _o: unknown, c: Command) => {
      const src = await loadPipelineFile(file);
      if (globals(c).json) {
        printJson(src.ir);
        return;
      }
      const { pipelineHash, topologicalOrder } = await import('../../pipelines/ir.js');
      const ir = src.ir;
      const order = topologicalOrder(ir);
      console.log(`${ir.name} ${ir.version}${ir.description ? `: ${ir.description}` : ''}`);
      console.log(`hash ${pipelineHash(ir)}`);
      if (ir.params.length) {
        console.log(`params: ${ir.params.map((p) => `${p.name} (${p.type})${p.default === undefined ? '' : ` = ${JSON.stringify(p.default)}`}`).join(', ')}`);
      }
      const byName = new Map(ir.steps.map((s) => [s.name, s]));
      printTable(order.map((name) => {
        const s = byName.get(name)!;
        const opts = [
          s.retries ? `retries ${s.retries}` : '',
          s.timeoutSeconds ? `timeout ${s.timeoutSeconds}s` : '',
          s.cache.enabled ? (s.cache.ttlSeconds ? `cache ${s.cache.ttlSeconds}s` : '') : 'no cache',
        ].filter(Boolean);
        return { step: name, component: s.component, inputs: Object.entries(s.inputs).map(([k, v]) => `${k}=${showInput(v)}`).join(' '), options: opts.join(', ') };
      }), ['step', 'component', 'inputs', 'options']);
    });

  cmd.command('resume <run-id>')
    .description('resume a failed or interrupted pipeline run: steps that finished are kept, the rest run again')
    .option('--no-cache', 'run the remaining steps whatever the cache holds')
    .option('--queue <url>', 'run the remaining steps on `trellis worker` processes through this Redis queue')
    .action(async (runId: string, o: { cache: boolean; queue?: string }, c: Command) => {
      await withWorkspace(c, async (ws) => {
        const opened = await ws.pipelines.openEngine(actor(c), { queue: o.queue });
        const { engine } = opened;
        const progress = progressOnStderr(await recordedSteps(ws, runId));
        try {
          const r = await engine.resume(runId, { noCache: !o.cache, onEvent: progress.onEvent });
          progress.stop();
          reportRun(!!globals(c).json, r);
        } finally {
          progress.stop();
          await opened.close();
        }
      });
    });

  cmd.addCommand(pipelinesStepCommand());
  cmd.addCommand(pipelinesRerunCommand());
  cmd.addCommand(pipelinesTriggerCommand());
  cmd.addCommand(pipelinesTriggersCommand());
  cmd.addCommand(pipelinesDeployCommand());

  cmd.command('why <run-id> <step>')
    .description("why a step of a pipeline run was served from cache, or was not: the reused run, or the parts of the cache key that changed")
    .action(async (runId: string, step: string, _o: unknown, c: Command) => {
      await withWorkspace(c, async (ws) => {
        const e = await ws.pipelines.explainCache(runId, step);
        output(!!globals(c).json, () => e, () => {
          console.log(`${e.step}: ${e.verdict === 'hit' ? 'cache hit' : 'cache miss'} — ${e.reason}`);
          if (e.changes.length) {
            printTable(e.changes.map((x) => ({ part: x.part, key: x.key ?? '', before: JSON.stringify(x.before), after: JSON.stringify(x.after) })), ['part', 'key', 'before', 'after']);
          }
        });
      });
    });

  cmd.command('export <file>')
    .description('export a pipeline to another engine: --format argo writes an Argo Workflow (YAML), and a Dockerfile per command component without an image beside it')
    .option('--format <format>', 'the target: argo', 'argo')
    .option('-o, --output <file>', 'write the workflow to this file (default: stdout); Dockerfiles go to its folder')
    .option('--image <ref>', 'the Trellis image that runs built-in and TypeScript steps (default: trellis:<version>)')
    .option('--namespace <ns>', 'metadata.namespace of the workflow')
    .option('--service-account <name>', 'spec.serviceAccountName of the workflow')
    .option('--registry <prefix>', 'registry prefix for the images of generated Dockerfiles')
    .action(async (file: string, o: { format: string; output?: string; image?: string; namespace?: string; serviceAccount?: string; registry?: string }, c: Command) => {
      if (o.format !== 'argo') throw invalid(`--format '${o.format}' is not supported: the formats are argo`);
      const src = await loadPipelineFile(file);
      const { mkdir, writeFile } = await import('node:fs/promises');
      const { renderArgo } = await import('../../pipelines/export/index.js');
      const r = renderArgo(src.ir, dirname(resolve(file)), { image: o.image, namespace: o.namespace, serviceAccount: o.serviceAccount, registry: o.registry });
      if (r.dockerfiles.length && !o.output) {
        throw invalid(`pipeline '${src.ir.name}' has command components without an image (${r.dockerfiles.map((d) => d.component).join(', ')}): give --output so their Dockerfiles can be written beside the workflow`);
      }
      const written: { component: string; file: string; image: string; context: string }[] = [];
      if (o.output) {
        const outDir = dirname(resolve(o.output));
        await mkdir(outDir, { recursive: true });
        await writeFile(o.output, r.yaml);
        for (const d of r.dockerfiles) {
          const path = join(outDir, d.file);
          await writeFile(path, d.text);
          written.push({ component: d.component, file: path, image: d.image, context: d.context });
        }
      } else if (!globals(c).json) process.stdout.write(r.yaml);
      output(!!globals(c).json, () => ({ format: 'argo', output: o.output ?? null, workflow: r.workflow, dockerfiles: written }), () => {
        if (!o.output) return;
        console.log(`wrote ${o.output}: Argo Workflow of ${src.ir.name} ${src.ir.version}, ${count(src.ir.steps.length, 'step')}`);
        for (const d of written) console.log(`wrote ${d.file}: build with docker build -f ${d.file} -t ${d.image} ${d.context}`);
      });
    });

  return cmd;
}
