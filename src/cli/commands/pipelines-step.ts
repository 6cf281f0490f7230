/**
 * `trellis pipelines step`: one step on its own, with its inputs and outputs as files — the entry
 * point of the containers of an exported Argo workflow (see src/pipelines/export/argo.ts).
 */
import { Command } from 'commander';
import { actor, globals, withWorkspace } from '../context.js';
import { output } from '../output.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function pipelinesStepCommand(): Command {
  return new Command('step')
    .description('run one step on its own: artifact inputs are read from --inputs/<name>, outputs written to --outputs/<name>; the step is a tracked run in the store')
    .requiredOption('--component <name@version>', 'a built-in component, or the TypeScript component given by --module/--export')
    .requiredOption('--inputs <dir>', 'folder holding the artifact inputs, one file or folder per input name')
    .requiredOption('--outputs <dir>', 'folder the outputs are written to, one per output name')
    .option('--module <path>', 'TypeScript/JavaScript module of the component')
    .option('--export <name>', 'the exported function of the module', 'default')
    .option('--input <name=value>', 'a scalar input (repeatable)', collect)
    .option('--output <name:type>', 'a declared output of a TypeScript component (repeatable)', collect)
    .option('--step <name>', 'the step name (default: $TRELLIS_STEP, else the component name)')
    .option('--experiment <name>', 'experiment of the step run (default: $TRELLIS_PIPELINE, else pipeline-steps)')
    .action(async (o: { component: string; inputs: string; outputs: string; module?: string; export: string; input?: string[]; output?: string[]; step?: string; experiment?: string }, c: Command) => {
      await withWorkspace(c, async (ws) => {
        const env = process.env;
        const tags: Record<string, string> = {};
        if (env.ARGO_WORKFLOW_NAME) tags['trellis.argo.workflow'] = env.ARGO_WORKFLOW_NAME;
        const r = await ws.pipelines.runStep(actor(c), {
          component: o.component, module: o.module, export: o.module ? o.export : undefined, outputs: o.output, inputs: o.input,
          inputsDir: o.inputs, outputsDir: o.outputs, step: o.step ?? env.TRELLIS_STEP, experiment: o.experiment ?? env.TRELLIS_PIPELINE, tags,
        });
        output(!!globals(c).json, () => ({ runId: r.runId, ...r.record }), () => {
          if (r.record.status === 'FINISHED') {
            console.log(`step ${o.step ?? o.component}: FINISHED (run ${r.runId})`);
            for (const [k, e] of Object.entries(r.record.outputs)) console.log(`  ${k}  ${e.type}  sha256 ${e.sha256}`);
          }
        });
        if (r.record.status !== 'FINISHED') {
          console.error(`error: step ${o.step ?? o.component} failed (run ${r.runId}): ${r.record.error ?? r.record.status}`);
          process.exitCode = 1;
        }
      });
    });
}
