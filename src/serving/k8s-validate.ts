/**
 * Checks of the resources `k8s-export.ts` writes, before any is written:
 *
 * - against the schemas of the resources (`k8s-schemas/`: trimmed from the Kubernetes OpenAPI
 *   documents and KServe's InferenceService CRD, see their `$comment`), with a small checker of
 *   the subset of JSON Schema they use (`type`, `properties`, `required`, `items`,
 *   `additionalProperties`, `enum`, `anyOf`/`oneOf`, `x-kubernetes-int-or-string`, int32/int64
 *   ranges, `$ref` within a document). A field a schema does not list is refused, as
 *   `kubectl apply`'s strict field validation refuses it;
 * - against the rules the API server applies beyond the schemas and that these resources can
 *   break: names and labels, selectors that match the pods, ports and probe ports that exist, the
 *   autoscaler's bounds and target;
 * - against the project's own rules for a serving pod: non-root, read-only root filesystem, no
 *   privilege escalation, and no literal value in a variable whose name says it is a secret.
 *
 * `lintDockerfile` checks a Dockerfile: known instructions, FROM first, no `latest` (or missing)
 * tag, a USER that is not root, an ENTRYPOINT and a HEALTHCHECK.
 */
import kserveSchema from './k8s-schemas/kserve.json' with { type: 'json' };
import kubernetesSchema from './k8s-schemas/kubernetes.json' with { type: 'json' };

export interface K8sResource {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: Record<string, unknown>;
}

/** The subset of JSON Schema (OpenAPI v3 structural schemas) the vendored schemas use. */
export interface Schema {
  $ref?: string;
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: Schema | boolean;
  items?: Schema;
  enum?: unknown[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  format?: string;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

interface SchemaDoc { resources: Record<string, Schema>; definitions: Record<string, Schema> }

const DOCS: SchemaDoc[] = [kubernetesSchema as SchemaDoc, kserveSchema as SchemaDoc];

/** `apps/v1 Deployment` and the others the vendored schemas know. */
export function knownKinds(): string[] {
  return DOCS.flatMap((d) => Object.keys(d.resources));
}

const INT_RANGE: Record<string, [number, number]> = { int32: [-(2 ** 31), 2 ** 31 - 1], int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER] };

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/** The problems of `value` against `schema` (empty when it conforms), each as `path: what is wrong`. */
export function checkSchema(value: unknown, schema: Schema, doc: Pick<SchemaDoc, 'definitions'>, path = ''): string[] {
  const at = path || '(top)';
  if (schema.$ref) {
    const m = /^#\/definitions\/(.+)$/.exec(schema.$ref);
    const target = m ? doc.definitions[m[1]!] : undefined;
    if (!target) return [`${at}: the schema names ${schema.$ref}, which it does not define`];
    return checkSchema(value, target, doc, path);
  }
  if (schema['x-kubernetes-int-or-string']) {
    if (typeOf(value) !== 'integer' && typeof value !== 'string') return [`${at}: expected an integer or a string, got ${JSON.stringify(value)}`];
    return [];
  }
  for (const key of ['anyOf', 'oneOf'] as const) {
    const branches = schema[key];
    if (branches && !branches.some((b) => checkSchema(value, b, doc, path).length === 0)) return [`${at}: ${JSON.stringify(value)} matches none of the allowed forms`];
  }
  if (schema.type) {
    const t = typeOf(value);
    if (t !== schema.type && !(schema.type === 'number' && t === 'integer')) return [`${at}: expected ${schema.type === 'integer' || schema.type === 'array' ? 'an' : 'a'} ${schema.type}, got ${JSON.stringify(value)}`];
  }
  if (schema.enum && !schema.enum.includes(value)) return [`${at}: ${JSON.stringify(value)} is not one of ${schema.enum.map((e) => JSON.stringify(e)).join(', ')}`];
  if (schema.type === 'integer' && schema.format && INT_RANGE[schema.format]) {
    const [lo, hi] = INT_RANGE[schema.format]!;
    if ((value as number) < lo || (value as number) > hi) return [`${at}: ${String(value)} is out of the ${schema.format} range`];
  }
  const problems: string[] = [];
  if (schema.type === 'array' && schema.items) {
    (value as unknown[]).forEach((item, i) => problems.push(...checkSchema(item, schema.items!, doc, `${path}[${i}]`)));
  }
  if (schema.type === 'object' && typeOf(value) === 'object') {
    const obj = value as Record<string, unknown>;
    for (const r of schema.required ?? []) if (obj[r] === undefined) problems.push(`${path ? `${path}.` : ''}${r}: required`);
    for (const [k, v] of Object.entries(obj)) {
      const sub = `${path ? `${path}.` : ''}${k}`;
      const prop = schema.properties?.[k];
      if (prop) problems.push(...checkSchema(v, prop, doc, sub));
      else if (typeof schema.additionalProperties === 'object') problems.push(...checkSchema(v, schema.additionalProperties, doc, sub));
      else if (schema.properties && schema.additionalProperties !== true && !schema['x-kubernetes-preserve-unknown-fields']) problems.push(`${sub}: unknown field`);
    }
  }
  return problems;
}

const RFC1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const RFC1035_LABEL = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;
/** Names of variables that hold secrets: their value must come from a Secret (`valueFrom`), never be written. */
const SECRET_VAR = /TOKEN|PASSWORD|PASSWD|SECRET|CREDENTIAL|(^|_)KEY($|_)|ACCESS_KEY|PRIVATE/i;

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

interface PodView { where: string; labels: Obj; spec: Obj }

function podOf(r: K8sResource): PodView | undefined {
  if (r.kind === 'Deployment') {
    const template = obj(r.spec.template);
    return { where: 'spec.template.spec', labels: obj(obj(template.metadata).labels), spec: obj(template.spec) };
  }
  if (r.kind === 'InferenceService') return { where: 'spec.predictor', labels: {}, spec: obj(r.spec.predictor) };
  return undefined;
}

/** The checks the schemas cannot express; see the file comment. */
function semanticProblems(r: K8sResource, all: readonly K8sResource[]): string[] {
  const p: string[] = [];
  const name = r.metadata?.name;
  const nameRule = r.kind === 'Service' || r.kind === 'InferenceService' ? RFC1035_LABEL : RFC1123_LABEL;
  if (typeof name !== 'string' || !nameRule.test(name)) p.push(`metadata.name: '${String(name)}' is not a valid ${r.kind} name (${nameRule === RFC1035_LABEL ? 'a letter first, then' : ''} lower case letters, digits and '-', at most 63 characters)`);
  for (const [k, v] of Object.entries(obj(r.metadata?.labels))) {
    if (!LABEL_KEY.test(k) || typeof v !== 'string' || !LABEL_VALUE.test(v)) p.push(`metadata.labels: '${k}: ${String(v)}' is not a valid label`);
  }
  const matchLabels = (where: string, selector: Obj, labels: Obj) => {
    if (!Object.keys(selector).length) p.push(`${where}: selects nothing`);
    for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) p.push(`${where}: ${k}=${String(v)} matches no label of the pods`);
  };
  const pod = podOf(r);
  if (pod) {
    if (r.kind === 'Deployment') matchLabels('spec.selector.matchLabels', obj(obj(r.spec.selector).matchLabels), pod.labels);
    const containers = arr(pod.spec.containers).map(obj);
    if (!containers.length) p.push(`${pod.where}.containers: no container`);
    containers.forEach((c, i) => {
      const where = `${pod.where}.containers[${i}]`;
      const ports = arr(c.ports).map(obj);
      const names = new Set(ports.map((x) => x.name));
      for (const [j, port] of ports.entries()) {
        const n = port.containerPort;
        if (typeof n !== 'number' || n < 1 || n > 65535) p.push(`${where}.ports[${j}].containerPort: ${String(n)} is not a port from 1 to 65535`);
      }
      for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
        const port = obj(obj(c[probe]).httpGet).port;
        if (port === undefined) continue;
        if (typeof port === 'string' ? !names.has(port) : !ports.some((x) => x.containerPort === port)) p.push(`${where}.${probe}.httpGet.port: ${JSON.stringify(port)} is not a port of the container`);
      }
      const sc = obj(c.securityContext);
      if (sc.runAsNonRoot !== true) p.push(`${where}.securityContext.runAsNonRoot: must be true`);
      if (sc.readOnlyRootFilesystem !== true) p.push(`${where}.securityContext.readOnlyRootFilesystem: must be true`);
      if (sc.allowPrivilegeEscalation !== false) p.push(`${where}.securityContext.allowPrivilegeEscalation: must be false`);
      arr(c.env).map(obj).forEach((e, j) => {
        if (typeof e.name === 'string' && SECRET_VAR.test(e.name) && e.value !== undefined) p.push(`${where}.env[${j}] ${e.name}: a secret's value is written in the manifest; take it from a Secret (valueFrom.secretKeyRef)`);
      });
      const limits = obj(obj(c.resources).limits);
      const requests = obj(obj(c.resources).requests);
      if (!requests.cpu || !requests.memory || !limits.memory) p.push(`${where}.resources: requests of cpu and memory and a memory limit are needed`);
    });
  }
  if (r.kind === 'Service') {
    const deployment = all.find((x) => x.kind === 'Deployment');
    const podLabels = deployment ? podOf(deployment)!.labels : undefined;
    if (podLabels) matchLabels('spec.selector', obj(r.spec.selector), podLabels);
    const podPorts = deployment ? arr(obj(arr(podOf(deployment)!.spec.containers)[0]).ports).map(obj) : [];
    arr(r.spec.ports).map(obj).forEach((port, i) => {
      const n = port.port;
      if (typeof n !== 'number' || n < 1 || n > 65535) p.push(`spec.ports[${i}].port: ${String(n)} is not a port from 1 to 65535`);
      if (deployment && typeof port.targetPort === 'string' && !podPorts.some((x) => x.name === port.targetPort)) p.push(`spec.ports[${i}].targetPort: '${port.targetPort}' names no port of the pods`);
    });
  }
  if (r.kind === 'HorizontalPodAutoscaler' || r.kind === 'InferenceService') {
    const spec = r.kind === 'InferenceService' ? obj(r.spec.predictor) : r.spec;
    const min = spec.minReplicas as number | undefined;
    const max = spec.maxReplicas as number | undefined;
    if (min !== undefined && min < 1) p.push(`minReplicas: ${min} is below 1`);
    if (min !== undefined && max !== undefined && max < min) p.push(`maxReplicas: ${max} is below minReplicas ${min}`);
  }
  if (r.kind === 'HorizontalPodAutoscaler') {
    const ref = obj(r.spec.scaleTargetRef);
    if (!all.some((x) => x.kind === ref.kind && x.metadata.name === ref.name && x.apiVersion === ref.apiVersion)) p.push(`spec.scaleTargetRef: ${String(ref.apiVersion)} ${String(ref.kind)} ${String(ref.name)} is not among the exported resources`);
    arr(r.spec.metrics).map(obj).forEach((m, i) => {
      const u = obj(obj(m.resource).target).averageUtilization;
      if (u !== undefined && (typeof u !== 'number' || u < 1)) p.push(`spec.metrics[${i}].resource.target.averageUtilization: ${JSON.stringify(u)} is below 1`);
    });
  }
  if (r.kind === 'PodDisruptionBudget') {
    const deployment = all.find((x) => x.kind === 'Deployment');
    if (deployment) matchLabels('spec.selector.matchLabels', obj(obj(r.spec.selector).matchLabels), podOf(deployment)!.labels);
  }
  return p;
}

/** The problems of one resource (schema, then the other rules); empty when it is fine. */
export function validateResource(r: K8sResource, all: readonly K8sResource[] = [r]): string[] {
  const key = `${r?.apiVersion} ${r?.kind}`;
  const doc = DOCS.find((d) => d.resources[key]);
  const label = `${r?.kind ?? 'resource'} ${r?.metadata?.name ?? '(unnamed)'}`;
  if (!doc) return [`${label}: ${key} is not a resource the export knows (${knownKinds().join(', ')})`];
  const problems = [...checkSchema(r, doc.resources[key]!, doc), ...semanticProblems(r, all)];
  return problems.map((x) => `${label}: ${x}`);
}

/** The problems of every resource; empty when all are fine. */
export function validateResources(resources: readonly K8sResource[]): string[] {
  return resources.flatMap((r) => validateResource(r, resources));
}

const DOCKER_INSTRUCTIONS = new Set(['FROM', 'RUN', 'CMD', 'LABEL', 'MAINTAINER', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME', 'USER', 'WORKDIR', 'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL']);

/** The problems of a Dockerfile (see the file comment); empty when it passes. */
export function lintDockerfile(text: string): string[] {
  const problems: string[] = [];
  // Instructions, with continuation lines joined and comments and blank lines left out.
  const lines: { n: number; instruction: string; args: string }[] = [];
  let pending: { n: number; text: string } | undefined;
  const push = (n: number, text: string) => {
    const m = /^(\S+)\s*(.*)$/.exec(text)!;
    lines.push({ n, instruction: m[1]!.toUpperCase(), args: m[2]! });
  };
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!pending && (line === '' || line.startsWith('#'))) return;
    const joined = pending ? `${pending.text} ${line}` : line;
    if (line.endsWith('\\')) { pending = { n: pending?.n ?? i + 1, text: joined.slice(0, -1).trimEnd() }; return; }
    push(pending?.n ?? i + 1, joined);
    pending = undefined;
  });
  if (pending) push(pending.n, pending.text);
  const first = lines.find((l) => l.instruction !== 'ARG');
  if (!first || first.instruction !== 'FROM') problems.push(`the first instruction must be FROM${first ? `, not ${first.instruction} (line ${first.n})` : ''}`);
  const stages = new Set<string>();
  let user: string | undefined;
  for (const l of lines) {
    if (!DOCKER_INSTRUCTIONS.has(l.instruction)) { problems.push(`line ${l.n}: unknown instruction ${l.instruction}`); continue; }
    if (l.instruction === 'FROM') {
      const [image, as, stage] = l.args.split(/\s+/);
      if (!image) { problems.push(`line ${l.n}: FROM names no image`); continue; }
      if (as?.toUpperCase() === 'AS' && stage) stages.add(stage.toLowerCase());
      if (stages.has(image.toLowerCase()) || image === 'scratch') continue;
      const tag = /^[^@]*?(?::([^/:@]+))?(@sha256:[a-f0-9]{64})?$/.exec(image);
      if (!tag?.[1] && !tag?.[2]) problems.push(`line ${l.n}: FROM ${image} has no tag: pin one (e.g. node:20-slim)`);
      else if (tag[1] === 'latest') problems.push(`line ${l.n}: FROM ${image} uses the tag latest: pin a version`);
      user = undefined; // each stage starts as root
    }
    if (l.instruction === 'USER') user = l.args.trim();
  }
  if (user === undefined) problems.push('the final stage sets no USER: the container would run as root');
  else if (/^(root|0)(:|$)/.test(user)) problems.push(`USER ${user} is root: name an unprivileged user`);
  if (!lines.some((l) => l.instruction === 'ENTRYPOINT' || l.instruction === 'CMD')) problems.push('no ENTRYPOINT or CMD: the image runs nothing');
  if (!lines.some((l) => l.instruction === 'HEALTHCHECK')) problems.push('no HEALTHCHECK');
  return problems;
}
