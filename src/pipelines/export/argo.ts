/**
 * Export of a pipeline (the normal `trellis.pipeline/v1` IR) to an Argo Workflows `Workflow`
 * resource: one DAG template whose tasks mirror the steps, and one container template per step.
 *
 * - Pipeline parameters become `spec.arguments.parameters` (with their defaults); a step input
 *   wired to one is passed as `{{workflow.parameters.NAME}}`, a literal as its text.
 * - An input wired to an upstream output is an input artifact of the task,
 *   `from: {{tasks.STEP.outputs.artifacts.OUTPUT}}`, which also makes it a dependency.
 * - In every container, artifact inputs are at `/trellis/inputs/NAME` and outputs are written to
 *   `/trellis/outputs/NAME`.
 * - Built-in and TypeScript components run in the Trellis image with
 *   `trellis pipelines step --component NAME@VERSION --inputs /trellis/inputs --outputs /trellis/outputs
 *   [--module M --export E] [--input NAME=VALUE…]`.
 * - Command components run their own argv in their `image`, or else in the image of a generated
 *   Dockerfile (`dockerfile.ts`), with `{inputs.x}`, `{outputs.y}`, `{params.p}` and `{outputDir}`
 *   rewritten to container paths and Argo parameter templates.
 *
 * - Every container is told where the store is: the workflow parameters `store` and `artifacts`
 *   become `TRELLIS_STORE_URI` and `TRELLIS_ARTIFACTS_URI`, and a Kubernetes Secret named by
 *   `secret` is loaded whole with `envFrom` (database password, S3 keys). A local store (`sqlite:`,
 *   `file:`) is refused as a default, as is a URI holding a password: a pod cannot share a file on
 *   the machine that exported, and credentials belong in the Secret, not in the workflow.
 *
 * Task and template names are the step names made RFC 1123 labels (lower case, `-`, at most 63
 * characters) and kept unique; parameter and artifact names are the IR's identifiers, which Argo
 * accepts as they are (`[A-Za-z0-9_-]+`), so the container paths keep the names components know.
 */
import { readFileSync } from 'node:fs';
import { invalid } from '../../core/errors.js';
import {
  ARTIFACT_TYPES, componentsFor, isOutputRef, isParamRef, pipelineHash, topologicalOrder, upstreamSteps,
  type CommandComponent, type ComponentDef, type PipelineIR, type Scalar, type Step,
} from '../ir.js';
import { defaultComponentImage } from './dockerfile.js';

export const INPUTS_DIR = '/trellis/inputs';
export const OUTPUTS_DIR = '/trellis/outputs';

export interface ArgoOptions {
  /** The Trellis image for built-in and TypeScript components; default `trellis:<package version>`. */
  image?: string;
  namespace?: string;
  serviceAccount?: string;
  /** Registry prefix for the images of generated Dockerfiles (`registry.example.com/ml`). */
  registry?: string;
  /** Default of the workflow parameter `store`: `postgres://…` (no password). Unset: given at submission. */
  store?: string;
  /** Default of the workflow parameter `artifacts`: `s3://bucket/prefix`. Unset: given at submission. */
  artifacts?: string;
  /** Name of a Kubernetes Secret whose keys become every container's environment (`envFrom`). */
  secret?: string;
}

/** The workflow parameters that carry the store's locations, and the variables they become. */
export const STORE_PARAMETERS = [
  { name: 'store', env: 'TRELLIS_STORE_URI', description: 'metadata store of the step runs: postgres://user@host:port/db (the password comes from the Secret, as PGPASSWORD)' },
  { name: 'artifacts', env: 'TRELLIS_ARTIFACTS_URI', description: 'artifact store of the step runs: s3://bucket/prefix (keys and endpoint come from the Secret)' },
] as const;

/**
 * Why a URI cannot be the `store`/`artifacts` default of a workflow run on a cluster, or undefined
 * when it can: it must be shared (postgres://, s3://) and hold no password.
 */
export function clusterUriProblem(which: 'store' | 'artifacts', uri: string): string | undefined {
  const shared = which === 'store' ? /^postgres(ql)?:\/\//i : /^s3:\/\//i;
  const expected = which === 'store' ? 'postgres://user@host:port/db' : 's3://bucket/prefix';
  if (/^(sqlite|file):/i.test(uri)) return `'${uri}' is a file on this machine, which the workflow's pods cannot share: give ${expected}`;
  if (!shared.test(uri)) return `'${uri}' is not a store the workflow's pods can share: give ${expected}`;
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return `'${redactUri(uri)}' is not a valid URI: give ${expected}`;
  }
  if (url.password) return `'${redactUri(uri)}' holds a password, which would be written into the workflow: leave it out and put it in the Kubernetes Secret (--secret), as PGPASSWORD`;
  if ([...url.searchParams.keys()].some((k) => /pass|secret|token|key/i.test(k))) return `'${redactUri(uri)}' holds a credential in its query, which would be written into the workflow: put it in the Kubernetes Secret (--secret)`;
  return undefined;
}

/** The URI with the password of its user part, and query values that look like credentials, replaced by `***`. */
export function redactUri(uri: string): string {
  return uri
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*):[^/@]*@/i, '$1:***@')
    .replace(/([?&][^=&#]*(?:pass|secret|token|key)[^=&#]*=)[^&#]*/gi, '$1***');
}

export interface ArgoParameter { name: string; value?: string; default?: string; description?: string }
export interface ArgoArtifact { name: string; path?: string; from?: string; optional?: boolean }
export interface ArgoTask {
  name: string;
  template: string;
  dependencies?: string[];
  arguments?: { parameters?: ArgoParameter[]; artifacts?: ArgoArtifact[] };
}
export interface ArgoContainer {
  image: string;
  command: string[];
  args?: string[];
  env?: { name: string; value: string }[];
  envFrom?: { secretRef: { name: string } }[];
}
export interface ArgoTemplate {
  name: string;
  dag?: { tasks: ArgoTask[] };
  inputs?: { parameters?: ArgoParameter[]; artifacts?: ArgoArtifact[] };
  outputs?: { artifacts: ArgoArtifact[] };
  container?: ArgoContainer;
  retryStrategy?: { limit: string };
  activeDeadlineSeconds?: number;
  metadata?: { annotations?: Record<string, string> };
}
export interface ArgoWorkflow {
  apiVersion: 'argoproj.io/v1alpha1';
  kind: 'Workflow';
  metadata: { generateName: string; namespace?: string; labels: Record<string, string>; annotations: Record<string, string> };
  spec: {
    entrypoint: string;
    serviceAccountName?: string;
    arguments: { parameters: ArgoParameter[] };
    templates: ArgoTemplate[];
  };
}

/** A command component without an image: the export expects the image of its generated Dockerfile. */
export interface GeneratedImage {
  component: CommandComponent;
  image: string;
}

export interface ArgoExport {
  workflow: ArgoWorkflow;
  /** Command components that need an image built from a generated Dockerfile. */
  images: GeneratedImage[];
  /** The Trellis image, when a built-in or TypeScript step runs in it. */
  trellisImage?: string;
}

/** An RFC 1123 label: lower case letters, digits and `-`, starting and ending alphanumeric, ≤ 63. */
export const RFC1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** `Feature_Prep` → `feature-prep`, at most `max` characters; `fallback` when nothing is left. */
export function k8sName(text: string, max = 63, fallback = 'x'): string {
  const s = text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+/, '').slice(0, max).replace(/-+$/, '');
  return s || fallback;
}

/** Makes names unique: the second `train` becomes `train-2`, shortened to stay within 63 characters. */
export function uniqueNamer(reserved: Iterable<string> = []): (text: string) => string {
  const used = new Set(reserved);
  return (text) => {
    const base = k8sName(text);
    let name = base;
    for (let i = 2; used.has(name); i++) name = `${k8sName(base, 63 - `-${i}`.length)}-${i}`;
    used.add(name);
    return name;
  };
}

let packageVersion: string | undefined;
/** `trellis:<version in package.json>`. */
export function defaultTrellisImage(): string {
  packageVersion ??= (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return `trellis:${packageVersion}`;
}

const text = (v: Scalar) => String(v);
const isArtifactType = (t: string) => (ARTIFACT_TYPES as readonly string[]).includes(t);

/** The Argo Workflow of a pipeline, and the generated images its command components need. */
export function exportArgo(ir: PipelineIR, options: ArgoOptions = {}): ArgoExport {
  for (const which of ['store', 'artifacts'] as const) {
    const uri = options[which];
    if (uri === undefined) continue;
    const problem = clusterUriProblem(which, uri);
    if (problem) throw invalid(`--${which} ${problem}`);
  }
  if (options.secret !== undefined && !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(options.secret)) {
    throw invalid(`--secret '${options.secret}' is not a Kubernetes Secret name: lower case letters, digits, '-' and '.', at most 253 characters`);
  }
  for (const p of STORE_PARAMETERS) {
    if (ir.params.some((x) => x.name === p.name)) {
      throw invalid(`pipeline '${ir.name}' declares a parameter '${p.name}', the name the Argo export gives to the ${p.name === 'store' ? 'metadata' : 'artifact'} store's location: rename it`);
    }
  }
  const storeEnv = STORE_PARAMETERS.map((p) => ({ name: p.env, value: `{{workflow.parameters.${p.name}}}` }));
  const envFrom = options.secret ? [{ secretRef: { name: options.secret } }] : undefined;
  const order = topologicalOrder(ir);
  const image = options.image ?? defaultTrellisImage();
  const byName = new Map(ir.steps.map((s) => [s.name, s]));
  const DAG = 'main';
  const nameOf = uniqueNamer([DAG]);
  const taskName = new Map(ir.steps.map((s) => [s.name, nameOf(s.name)]));
  const declared = new Set(ir.params.map((p) => p.name));
  const images = new Map<string, GeneratedImage>();

  const componentOf = (step: Step): ComponentDef => {
    const found = componentsFor(ir, step.component);
    if (found.length !== 1) {
      throw invalid(`step '${step.name}' uses component '${step.component}', which ${found.length ? 'names several components' : 'the pipeline does not define'}: run \`trellis pipelines lint\``);
    }
    return found[0]!;
  };

  const tasks: ArgoTask[] = [];
  const templates: ArgoTemplate[] = [];
  for (const stepName of order) {
    const step = byName.get(stepName)!;
    const comp = componentOf(step);
    const name = taskName.get(step.name)!;
    const argParams: ArgoParameter[] = [];
    const argArtifacts: ArgoArtifact[] = [];
    const inParams: ArgoParameter[] = [];
    const inArtifacts: ArgoArtifact[] = [];
    for (const [input, spec] of Object.entries(comp.inputs)) {
      const v = step.inputs[input];
      if (isArtifactType(spec.type)) {
        if (v === undefined) continue;
        if (!isOutputRef(v)) throw invalid(`step '${step.name}' input '${input}' is a ${spec.type}: wire it to an upstream output`);
        const from = byName.get(v.step);
        if (!from || !(v.output in componentOf(from).outputs)) {
          throw invalid(`step '${step.name}' input '${input}' reads output '${v.output}' of step '${v.step}', which does not exist: run \`trellis pipelines lint\``);
        }
        argArtifacts.push({ name: input, from: `{{tasks.${taskName.get(v.step)}.outputs.artifacts.${v.output}}}` });
        inArtifacts.push({ name: input, path: `${INPUTS_DIR}/${input}` });
        continue;
      }
      if (v === undefined) {
        if (spec.default !== undefined) inParams.push({ name: input, default: text(spec.default) });
        continue;
      }
      if (isOutputRef(v)) throw invalid(`step '${step.name}' input '${input}' takes a ${spec.type}, not an artifact`);
      if (isParamRef(v) && !declared.has(v.param)) throw invalid(`step '${step.name}' input '${input}' reads parameter '${v.param}', which the pipeline does not declare`);
      argParams.push({ name: input, value: isParamRef(v) ? `{{workflow.parameters.${v.param}}}` : text(v) });
      inParams.push({ name: input });
    }
    for (const input of Object.keys(step.inputs)) {
      if (!(input in comp.inputs)) throw invalid(`step '${step.name}' sets input '${input}', which component ${comp.name}@${comp.version} does not declare: run \`trellis pipelines lint\``);
    }

    const deps = upstreamSteps(step).map((u) => {
      if (!taskName.has(u)) throw invalid(`step '${step.name}' reads step '${u}', which does not exist`);
      return taskName.get(u)!;
    });
    const task: ArgoTask = { name, template: name };
    if (deps.length) task.dependencies = deps;
    if (argParams.length || argArtifacts.length) {
      task.arguments = {};
      if (argParams.length) task.arguments.parameters = argParams;
      if (argArtifacts.length) task.arguments.artifacts = argArtifacts;
    }
    tasks.push(task);

    const template: ArgoTemplate = { name, metadata: { annotations: { 'trellis/step': step.name, 'trellis/component': `${comp.name}@${comp.version}` } } };
    if (inParams.length || inArtifacts.length) {
      template.inputs = {};
      if (inParams.length) template.inputs.parameters = inParams;
      if (inArtifacts.length) template.inputs.artifacts = inArtifacts;
    }
    const outputs = Object.keys(comp.outputs);
    if (outputs.length) template.outputs = { artifacts: outputs.map((o) => ({ name: o, path: `${OUTPUTS_DIR}/${o}` })) };
    const setScalars = new Set(inParams.map((p) => p.name));
    if (comp.kind === 'command') {
      let img = comp.image;
      if (!img) {
        const key = `${comp.name}@${comp.version}`;
        if (!images.has(key)) images.set(key, { component: comp, image: defaultComponentImage(comp, options.registry) });
        img = images.get(key)!.image;
      }
      const fill = (s: string) => rewritePlaceholders(s, comp, setScalars);
      template.container = { image: img, command: comp.command.map(fill) };
      const env = Object.entries(comp.env ?? {}).map(([k, v]) => ({ name: k, value: fill(v) }));
      env.push({ name: 'TRELLIS_STEP', value: step.name }, { name: 'TRELLIS_OUTPUT_DIR', value: OUTPUTS_DIR }, { name: 'TRELLIS_METRICS_FILE', value: `${OUTPUTS_DIR}/metrics.json` }, ...storeEnv);
      template.container.env = env;
    } else {
      const args = ['pipelines', 'step', '--component', `${comp.name}@${comp.version}`, '--inputs', INPUTS_DIR, '--outputs', OUTPUTS_DIR];
      if (comp.kind === 'typescript') {
        args.push('--module', comp.module, '--export', comp.export);
        for (const [o, spec] of Object.entries(comp.outputs)) args.push('--output', `${o}:${spec.type}`);
      }
      for (const p of inParams) args.push('--input', `${p.name}={{inputs.parameters.${p.name}}}`);
      template.container = { image, command: ['trellis'], args, env: [{ name: 'TRELLIS_STEP', value: step.name }, { name: 'TRELLIS_PIPELINE', value: ir.name }, ...storeEnv] };
    }
    if (envFrom) template.container.envFrom = envFrom.map((e) => ({ secretRef: { ...e.secretRef } }));
    if (step.retries > 0) template.retryStrategy = { limit: String(step.retries) };
    if (step.timeoutSeconds !== undefined) template.activeDeadlineSeconds = Math.ceil(step.timeoutSeconds);
    templates.push(template);
  }

  const metadata: ArgoWorkflow['metadata'] = {
    generateName: `${k8sName(ir.name, 57, 'pipeline')}-`,
    labels: { 'trellis/pipeline': k8sName(ir.name) },
    annotations: { 'trellis/pipeline': ir.name, 'trellis/pipeline-version': ir.version, 'trellis/pipeline-hash': pipelineHash(ir) },
  };
  if (options.namespace) metadata.namespace = options.namespace;
  const spec: ArgoWorkflow['spec'] = {
    entrypoint: DAG,
    ...(options.serviceAccount ? { serviceAccountName: options.serviceAccount } : {}),
    arguments: {
      parameters: [
        ...ir.params.map((p) => ({
          name: p.name,
          ...(p.default === undefined ? {} : { value: text(p.default) }),
          ...(p.description ? { description: p.description } : {}),
        })),
        ...STORE_PARAMETERS.map((p) => ({ name: p.name, ...(options[p.name] === undefined ? {} : { value: options[p.name] }), description: p.description })),
      ],
    },
    templates: [{ name: DAG, dag: { tasks } }, ...templates],
  };
  const workflow: ArgoWorkflow = { apiVersion: 'argoproj.io/v1alpha1', kind: 'Workflow', metadata, spec };
  const usesTrellis = templates.some((t) => t.container?.image === image && t.container.command[0] === 'trellis');
  return { workflow, images: [...images.values()], ...(usesTrellis ? { trellisImage: image } : {}) };
}

/** The Argo `Workflow` of a pipeline (see `exportArgo` for the images it expects). */
export function toArgoWorkflow(ir: PipelineIR, options: ArgoOptions = {}): ArgoWorkflow {
  return exportArgo(ir, options).workflow;
}

/**
 * A command's text for the container: `{inputs.x}` → `/trellis/inputs/x` (artifacts) or
 * `{{inputs.parameters.x}}` (scalars; empty when the step leaves it unset), `{outputs.y}` →
 * `/trellis/outputs/y`, `{params.p}` → `{{workflow.parameters.p}}`, `{outputDir}` → `/trellis/outputs`.
 */
export function rewritePlaceholders(s: string, comp: CommandComponent, setScalars: ReadonlySet<string>): string {
  return s.replace(/\{outputDir\}|\{(inputs|outputs|params)\.([A-Za-z_][\w-]*)\}/g, (whole, space?: string, name?: string) => {
    if (whole === '{outputDir}') return OUTPUTS_DIR;
    if (space === 'outputs') {
      if (!(name! in comp.outputs)) throw invalid(`component ${comp.name}@${comp.version} uses ${whole}, but declares no output '${name}'`);
      return `${OUTPUTS_DIR}/${name}`;
    }
    if (space === 'params') return `{{workflow.parameters.${name}}}`;
    const spec = comp.inputs[name!];
    if (!spec) throw invalid(`component ${comp.name}@${comp.version} uses ${whole}, but declares no input '${name}'`);
    if (isArtifactType(spec.type)) return `${INPUTS_DIR}/${name}`;
    return setScalars.has(name!) ? `{{inputs.parameters.${name}}}` : '';
  });
}
