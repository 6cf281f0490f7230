/**
 * `trellis pipelines export --format argo`: an Argo Workflow of a pipeline, and with `--output`
 * everything it needs to run on a cluster beside it (the Trellis image's build context, the
 * Dockerfiles of command components without an image). See src/pipelines/export/.
 */
import { Command } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { invalid } from '../../core/errors.js';
import { globals } from '../context.js';
import { output } from '../output.js';

const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

export function pipelinesExportCommand(): Command {
  return new Command('export')
    .argument('<file>')
    .description('export a pipeline to another engine: --format argo writes an Argo Workflow (YAML); with --output, the build context of the Trellis image its steps run in, and a Dockerfile per command component without an image, beside it')
    .option('--format <format>', 'the target: argo', 'argo')
    .option('-o, --output <path>', 'write the workflow to this file, or to workflow.yaml in this folder (a path ending in / or an existing folder), with the images\' build files beside it (default: the workflow on stdout)')
    .option('--image <ref>', 'the Trellis image that runs built-in and TypeScript steps (default: trellis:<version>)')
    .option('--namespace <ns>', 'metadata.namespace of the workflow')
    .option('--service-account <name>', 'spec.serviceAccountName of the workflow')
    .option('--registry <prefix>', 'registry prefix for the images of generated Dockerfiles')
    .option('--secret <name>', 'a Kubernetes Secret whose keys every step gets as environment variables (PGPASSWORD, AWS_ACCESS_KEY_ID, …)')
    .addHelpText('after', '\nThe workflow parameters store and artifacts tell every step where the metadata and artifact stores are;\ntheir defaults are --store and --artifacts (or $TRELLIS_STORE_URI, $TRELLIS_ARTIFACTS_URI) when they are\npostgres:// and s3:// URIs without a password, else they are given at submission: argo submit -p store=… -p artifacts=…')
    .action(async (file: string, o: { format: string; output?: string; image?: string; namespace?: string; serviceAccount?: string; registry?: string; secret?: string }, c: Command) => {
      if (o.format !== 'argo') throw invalid(`--format '${o.format}' is not supported: the formats are argo`);
      const g = globals(c);
      const { mkdir, writeFile } = await import('node:fs/promises');
      const { clusterUriProblem, pipelineForImage, renderArgo } = await import('../../pipelines/export/index.js');

      // The stores' defaults: given on the command line they must suit a cluster (exportArgo refuses
      // them otherwise); taken from the environment, an unsuitable one is left out, with a warning.
      const fromEnv = { store: process.env.TRELLIS_STORE_URI, artifacts: process.env.TRELLIS_ARTIFACTS_URI };
      const uris: { store?: string; artifacts?: string } = {};
      for (const which of ['store', 'artifacts'] as const) {
        if (g[which] !== undefined) { uris[which] = g[which]; continue; }
        const env = fromEnv[which];
        if (!env) continue;
        const problem = clusterUriProblem(which, env);
        if (problem) console.error(`warning: $TRELLIS_${which === 'store' ? 'STORE' : 'ARTIFACTS'}_URI is not the workflow's default ${which}: ${problem}. The workflow needs -p ${which}=… at submission.`);
        else uris[which] = env;
      }

      const outPath = o.output === undefined ? undefined
        : /[\\/]$/.test(o.output) || (existsSync(o.output) && statSync(o.output).isDirectory()) ? join(o.output, 'workflow.yaml') : o.output;
      const { ir, files } = await pipelineForImage(file);
      const r = renderArgo(ir, dirname(resolve(file)), { image: o.image, namespace: o.namespace, serviceAccount: o.serviceAccount, registry: o.registry, secret: o.secret, ...uris });
      if (r.dockerfiles.length && !outPath) {
        throw invalid(`pipeline '${ir.name}' has command components without an image (${r.dockerfiles.map((d) => d.component).join(', ')}): give --output so their Dockerfiles can be written beside the workflow`);
      }
      const written: { component: string; file: string; image: string; context: string }[] = [];
      let trellis: { image: string; dockerfile: string; context: string } | undefined;
      if (outPath) {
        const outDir = dirname(resolve(outPath));
        await mkdir(outDir, { recursive: true });
        await writeFile(outPath, r.yaml);
        for (const d of r.dockerfiles) {
          const path = join(outDir, d.file);
          await writeFile(path, d.text);
          written.push({ component: d.component, file: path, image: d.image, context: d.context });
        }
        if (r.trellisImage) {
          const { writeTrellisImage } = await import('../../pipelines/export/index.js');
          const w = await writeTrellisImage(outDir, { image: r.trellisImage, pipeline: { name: ir.name, version: ir.version }, files });
          trellis = { image: r.trellisImage, dockerfile: w.dockerfile, context: outDir };
        }
      } else if (!g.json) process.stdout.write(r.yaml);
      output(!!g.json, () => ({ format: 'argo', output: outPath ?? null, workflow: r.workflow, trellisImage: trellis ?? null, dockerfiles: written }), () => {
        if (!outPath) return;
        console.log(`wrote ${outPath}: Argo Workflow of ${ir.name} ${ir.version}, ${count(ir.steps.length, 'step')}`);
        if (trellis) console.log(`wrote ${trellis.dockerfile}: build with docker build -t ${trellis.image} ${trellis.context}`);
        for (const d of written) console.log(`wrote ${d.file}: build with docker build -f ${d.file} -t ${d.image} ${d.context}`);
      });
    });
}
