/**
 * Export of a serving endpoint to a cluster, for `trellis deployments export`: the resources that
 * run `trellis serve --endpoint <name>` as stateless replicas of the shared store, and the image
 * they run.
 *
 * - `kubernetes`: a Deployment (probes on `/v2/health/ready` and `/v2/health/live`, ports http
 *   8080 and grpc 8081, requests and limits, non-root with a read-only root filesystem and a
 *   writable `/tmp`, a preStop pause and a grace period that cover the drain on SIGTERM), a
 *   Service, an autoscaling/v2 HorizontalPodAutoscaler on CPU utilisation and, with two replicas
 *   or more, a PodDisruptionBudget that lets one replica go at a time.
 * - `kserve`: a serving.kserve.io/v1beta1 InferenceService whose predictor is the same container
 *   (KServe's custom-container conventions: `kserve-container`, port 8080, `PROTOCOL=v2`).
 *
 * The store's and artifact store's locations, their credentials and the admin token come from a
 * Kubernetes Secret by reference (`secretKeyRef`, `envFrom`): no secret value is written. Every
 * resource is checked against the schemas in `k8s-schemas/` (see `k8s-validate.ts`) and the
 * Dockerfile against `lintDockerfile` before anything is returned; a failure names the resource
 * and the field.
 */
import { readFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { invalid } from '../core/errors.js';
import { lintDockerfile, validateResources, type K8sResource } from './k8s-validate.js';

export const K8S_FORMATS = ['kubernetes', 'kserve'] as const;
export type K8sFormat = (typeof K8S_FORMATS)[number];

/** The REST and gRPC ports of the container (those `trellis serve` is given). */
export const HTTP_PORT = 8080;
export const GRPC_PORT = 8081;
/** Seconds between SIGTERM and SIGKILL: the preStop pause, then the requests in flight finish. */
export const GRACE_SECONDS = 60;
/** Seconds the pod keeps serving after it is told to stop, while it is taken out of the Service's endpoints. */
export const PRESTOP_SECONDS = 5;
/** The image's user (the `node` user of the node image), by number so `runAsNonRoot` can verify it. */
export const RUN_AS = 1000;

/** The endpoint as the export needs it: its name, the revision exported, the routes (for the annotations). */
export interface ExportedDeployment {
  name: string;
  revision: number;
  routes: readonly { role: string; model: string; share: number; arm?: string }[];
}

export interface K8sExportOptions {
  format: K8sFormat;
  /** The image of `trellis`; default `trellis:<package version>`. */
  image?: string;
  /** Replicas at least (the autoscaler's minimum); default 2. */
  replicas?: number;
  /** Replicas at most; default the larger of 10 and `replicas`. */
  maxReplicas?: number;
  /** Average CPU utilisation (% of the request) the autoscaler aims at; default 70. */
  cpuTarget?: number;
  /** The Secret holding TRELLIS_STORE_URI, TRELLIS_ARTIFACTS_URI and the stores' credentials; default `trellis-store`. */
  storeSecret?: string;
  /** The Secret holding TRELLIS_ADMIN_TOKEN (optional key); default `storeSecret`. */
  tokenSecret?: string;
  namespace?: string;
  /** CPU request (e.g. `500m`); default 500m. */
  cpu?: string;
  /** CPU limit; default 2. */
  cpuLimit?: string;
  /** Memory request and limit (e.g. `1Gi`); default 1Gi. */
  memory?: string;
}

export interface K8sExport {
  format: K8sFormat;
  /** The name of every resource: `trellis-<endpoint>`. */
  name: string;
  resources: K8sResource[];
  /** The resources as one YAML stream, with a header. */
  yaml: string;
  /** The file the YAML is written to in an output folder. */
  manifestFile: string;
  image: string;
  dockerfile: string;
  dockerignore: string;
  readme: string;
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const SECRET_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A Kubernetes quantity: `500m`, `2`, `1.5`, `512Mi`, `1G`. */
const QUANTITY = /^(\d+(\.\d+)?|\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
/** An image reference: `[registry[:port]/]path[:tag][@sha256:…]`, lower-case path. */
const IMAGE = /^([a-z0-9.-]+(:\d+)?\/)?[a-z0-9]+([._-][a-z0-9]+)*(\/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$/;

/** `Income Model` → `income-model`, at most `max` characters (an RFC 1123 label). */
export function k8sLabel(text: string, max = 63): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+/, '').slice(0, max).replace(/-+$/, '');
}

let packageVersion: string | undefined;
/** `trellis:<version in package.json>`. */
export function defaultServingImage(): string {
  packageVersion ??= (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return `trellis:${packageVersion}`;
}

/** The options with their defaults, checked; throws naming the bad option. */
export function checkExportOptions(o: K8sExportOptions): Required<Omit<K8sExportOptions, 'namespace'>> & { namespace?: string } {
  if (!(K8S_FORMATS as readonly string[]).includes(o.format)) throw invalid(`--format '${o.format}' is not supported: the formats are ${K8S_FORMATS.join(', ')}`);
  const replicas = o.replicas ?? 2;
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 1000) throw invalid(`--replicas '${o.replicas}' must be a whole number from 1 to 1000`);
  const maxReplicas = o.maxReplicas ?? Math.max(10, replicas);
  if (!Number.isInteger(maxReplicas) || maxReplicas < replicas || maxReplicas > 1000) throw invalid(`--max-replicas '${o.maxReplicas}' must be a whole number from --replicas (${replicas}) to 1000`);
  const cpuTarget = o.cpuTarget ?? 70;
  if (!Number.isInteger(cpuTarget) || cpuTarget < 1 || cpuTarget > 100) throw invalid(`--cpu-target '${o.cpuTarget}' must be a whole percentage from 1 to 100`);
  const storeSecret = o.storeSecret ?? 'trellis-store';
  const tokenSecret = o.tokenSecret ?? storeSecret;
  for (const [flag, v] of [['--store-secret', storeSecret], ['--token-secret', tokenSecret]] as const) {
    if (!SECRET_NAME.test(v)) throw invalid(`${flag} '${v}' is not a Kubernetes Secret name: lower case letters, digits, '-' and '.', at most 253 characters`);
  }
  if (o.namespace !== undefined && !NAMESPACE.test(o.namespace)) throw invalid(`--namespace '${o.namespace}' is not a Kubernetes namespace: lower case letters, digits and '-', at most 63 characters`);
  const cpu = o.cpu ?? '500m';
  const cpuLimit = o.cpuLimit ?? '2';
  const memory = o.memory ?? '1Gi';
  for (const [flag, v] of [['--cpu', cpu], ['--cpu-limit', cpuLimit], ['--memory', memory]] as const) {
    if (!QUANTITY.test(v)) throw invalid(`${flag} '${v}' is not a Kubernetes quantity: e.g. 500m or 2 for CPU, 512Mi or 1Gi for memory`);
  }
  if (quantity(cpuLimit) < quantity(cpu)) throw invalid(`--cpu-limit ${cpuLimit} is below the --cpu request ${cpu}`);
  const image = o.image ?? defaultServingImage();
  if (!IMAGE.test(image) || image.length > 255) throw invalid(`--image '${image}' is not an image reference: [registry/]name[:tag][@sha256:digest], lower case name`);
  if (/:latest$/.test(image)) throw invalid(`--image '${image}' uses the tag latest: give a fixed tag (or a digest), so every replica runs the same build`);
  return { format: o.format, image, replicas, maxReplicas, cpuTarget, storeSecret, tokenSecret, cpu, cpuLimit, memory, ...(o.namespace ? { namespace: o.namespace } : {}) };
}

const SUFFIX: Record<string, number> = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
function quantity(q: string): number {
  const m = /^([\d.]+)([A-Za-z]*)$/.exec(q)!;
  return Number(m[1]) * (m[2] ? SUFFIX[m[2]]! : 1);
}

/** The arguments of `trellis serve` in the container. */
export function serveArgs(endpoint: string): string[] {
  return ['serve', '--endpoint', endpoint, '--host', '0.0.0.0', '--port', String(HTTP_PORT), '--grpc-port', String(GRPC_PORT), '--auth'];
}

/** The resources of an endpoint, unchecked (`exportDeployment` checks them). */
export function k8sResources(d: ExportedDeployment, options: K8sExportOptions): { name: string; resources: K8sResource[] } {
  const o = checkExportOptions(options);
  const slug = k8sLabel(d.name, 55);
  if (!slug) throw invalid(`endpoint '${d.name}' has no letter or digit to name its Kubernetes resources after`);
  const name = `trellis-${slug}`;
  const labels = { 'app.kubernetes.io/name': 'trellis-serve', 'app.kubernetes.io/instance': name, 'app.kubernetes.io/component': 'serving', 'trellis/endpoint': slug };
  const selector = { 'app.kubernetes.io/name': 'trellis-serve', 'app.kubernetes.io/instance': name };
  const annotations = {
    'trellis/endpoint': d.name,
    'trellis/exported-revision': String(d.revision),
    'trellis/routes': d.routes.map((r) => `${r.role === 'arm' ? `arm ${r.arm}` : r.role} ${r.model}${r.role === 'shadow' ? '' : ` ${r.share}%`}`).join(', '),
  };
  const metadata = { name, ...(o.namespace ? { namespace: o.namespace } : {}), labels, annotations };
  if (!Object.values(labels).every((v) => LABEL_VALUE.test(v))) throw invalid(`endpoint '${d.name}' gives a label value Kubernetes refuses`);

  const env = [
    { name: 'TRELLIS_STORE_URI', valueFrom: { secretKeyRef: { name: o.storeSecret, key: 'TRELLIS_STORE_URI' } } },
    { name: 'TRELLIS_ARTIFACTS_URI', valueFrom: { secretKeyRef: { name: o.storeSecret, key: 'TRELLIS_ARTIFACTS_URI' } } },
    { name: 'TRELLIS_ADMIN_TOKEN', valueFrom: { secretKeyRef: { name: o.tokenSecret, key: 'TRELLIS_ADMIN_TOKEN', optional: true } } },
    { name: 'TRELLIS_HOME', value: '/tmp/trellis' },
    { name: 'TRELLIS_LOG_FORMAT', value: 'json' },
  ];
  const probe = (path: string, period: number, failures: number) => ({
    httpGet: { path, port: o.format === 'kserve' ? HTTP_PORT : 'http' }, periodSeconds: period, timeoutSeconds: 3, failureThreshold: failures,
  });
  // Knative takes runAsGroup only behind a feature flag: under KServe the image's USER gives the group.
  const containerSecurity = {
    runAsNonRoot: true, runAsUser: RUN_AS, ...(o.format === 'kubernetes' ? { runAsGroup: RUN_AS } : {}), allowPrivilegeEscalation: false, readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
  };
  const container = {
    name: o.format === 'kserve' ? 'kserve-container' : 'trellis-serve',
    image: o.image,
    imagePullPolicy: 'IfNotPresent',
    command: ['trellis'],
    args: serveArgs(d.name),
    ports: o.format === 'kserve'
      // Knative routes one port; gRPC is served in the pod but not routed.
      ? [{ name: 'http1', containerPort: HTTP_PORT, protocol: 'TCP' }]
      : [{ name: 'http', containerPort: HTTP_PORT, protocol: 'TCP' }, { name: 'grpc', containerPort: GRPC_PORT, protocol: 'TCP' }],
    env: o.format === 'kserve' ? [{ name: 'PROTOCOL', value: 'v2' }, ...env] : env,
    envFrom: [{ secretRef: { name: o.storeSecret } }],
    readinessProbe: probe('/v2/health/ready', 5, 3),
    // Without a startup probe (KServe), liveness waits out the models' loading before it counts.
    livenessProbe: o.format === 'kserve' ? { ...probe('/v2/health/live', 10, 3), initialDelaySeconds: 60 } : probe('/v2/health/live', 10, 3),
    // Knative refuses startup probes and lifecycle hooks (its queue-proxy drains the pod itself).
    ...(o.format === 'kubernetes' ? {
      startupProbe: probe('/v2/health/live', 2, 60),
      lifecycle: { preStop: { exec: { command: ['sleep', String(PRESTOP_SECONDS)] } } },
    } : {}),
    resources: { requests: { cpu: o.cpu, memory: o.memory }, limits: { cpu: o.cpuLimit, memory: o.memory } },
    securityContext: containerSecurity,
    volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
  };
  const volumes = [{ name: 'tmp', emptyDir: { sizeLimit: '256Mi' } }];

  const resources: K8sResource[] = [];
  if (o.format === 'kubernetes') {
    resources.push({
      apiVersion: 'apps/v1', kind: 'Deployment', metadata,
      spec: {
        // No `replicas`: the autoscaler owns the count, and re-applying this file does not reset it.
        revisionHistoryLimit: 5,
        selector: { matchLabels: selector },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
        template: {
          metadata: { labels, annotations: { 'trellis/endpoint': d.name } },
          spec: {
            automountServiceAccountToken: false,
            terminationGracePeriodSeconds: GRACE_SECONDS,
            securityContext: { runAsNonRoot: true, runAsUser: RUN_AS, runAsGroup: RUN_AS, fsGroup: RUN_AS, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [container],
            volumes,
          },
        },
      },
    });
    resources.push({
      apiVersion: 'v1', kind: 'Service', metadata,
      spec: {
        type: 'ClusterIP',
        selector,
        ports: [
          { name: 'http', port: HTTP_PORT, targetPort: 'http', protocol: 'TCP', appProtocol: 'http' },
          { name: 'grpc', port: GRPC_PORT, targetPort: 'grpc', protocol: 'TCP', appProtocol: 'kubernetes.io/h2c' },
        ],
      },
    });
    resources.push({
      apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata,
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
        minReplicas: o.replicas,
        maxReplicas: o.maxReplicas,
        metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: o.cpuTarget } } }],
        behavior: { scaleDown: { stabilizationWindowSeconds: 300, policies: [{ type: 'Percent', value: 50, periodSeconds: 60 }] } },
      },
    });
    // With one replica a budget protects nothing; with more, node drains take them one at a time.
    if (o.replicas >= 2) {
      resources.push({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata, spec: { maxUnavailable: 1, selector: { matchLabels: selector } } });
    }
  } else {
    resources.push({
      apiVersion: 'serving.kserve.io/v1beta1', kind: 'InferenceService', metadata,
      spec: {
        predictor: {
          minReplicas: o.replicas,
          maxReplicas: o.maxReplicas,
          scaleMetric: 'cpu',
          scaleTarget: o.cpuTarget,
          // No terminationGracePeriodSeconds: Knative sets it from the revision's timeout and drains through its queue-proxy.
          automountServiceAccountToken: false,
          containers: [container],
          volumes,
        },
      },
    });
  }

  return { name, resources };
}

/** The resources (and image files) of an endpoint, checked; throws naming the first problems when a check fails. */
export function exportDeployment(d: ExportedDeployment, options: K8sExportOptions): K8sExport {
  const o = checkExportOptions(options);
  const { name, resources } = k8sResources(d, o);
  const problems = validateResources(resources);
  if (problems.length) throw invalid(`the exported resources fail their schema checks: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? ` (and ${problems.length - 5} more)` : ''}`);
  const dockerfile = servingDockerfile({ image: o.image, endpoint: d.name });
  const lint = lintDockerfile(dockerfile);
  if (lint.length) throw invalid(`the exported Dockerfile fails its checks: ${lint.join('; ')}`);

  const manifestFile = o.format === 'kubernetes' ? 'kubernetes.yaml' : 'inferenceservice.yaml';
  const header = `# ${o.format === 'kubernetes' ? 'Deployment, Service, HorizontalPodAutoscaler' + (o.replicas >= 2 ? ' and PodDisruptionBudget' : '') : 'KServe InferenceService'} serving endpoint ${d.name}, generated by \`trellis deployments export --format ${o.format}\`.\n# The replicas read the endpoint from the store named in Secret ${o.storeSecret} and follow its changes; apply with: kubectl apply -f <this file>\n`;
  const yaml = header + resources.map((r) => stringify(r, { lineWidth: 0, aliasDuplicateObjects: false })).join('---\n');
  return {
    format: o.format, name, resources, yaml, manifestFile, image: o.image, dockerfile, dockerignore: DOCKERIGNORE,
    readme: readmeText({ endpoint: d.name, name, format: o.format, image: o.image, manifestFile, storeSecret: o.storeSecret, tokenSecret: o.tokenSecret, namespace: o.namespace }),
  };
}

/** Where the image holds the Trellis package. */
const TRELLIS_DIR = '/opt/trellis';
const NODE_IMAGE = 'node:20-slim';

/**
 * The Dockerfile of the serving image, built from the output folder, which holds the Trellis
 * package under `trellis/` (its package.json, lockfile, `bin/` and built `dist/`). Dependencies are
 * installed in a first stage with build tools (better-sqlite3 builds from source when no prebuilt
 * binary fits), without onnxruntime-node's optional GPU download; the final stage runs as the
 * unprivileged user 1000 with `trellis serve` as its entry point.
 */
export function servingDockerfile(o: { image: string; endpoint: string }): string {
  return [
    `# Trellis serving image (endpoint ${o.endpoint}), generated by \`trellis deployments export\`.`,
    '# Build it from this folder and push it where the cluster pulls from:',
    `#   docker build -t ${o.image} . && docker push ${o.image}`,
    `FROM ${NODE_IMAGE} AS install`,
    'RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ ca-certificates && rm -rf /var/lib/apt/lists/*',
    'ENV npm_config_onnxruntime_node_install=skip',
    `WORKDIR ${TRELLIS_DIR}`,
    'COPY trellis/package.json trellis/package-lock.json ./',
    '# The package is installed already built: its prepare script (the TypeScript build) has nothing to do.',
    'RUN npm pkg delete scripts.prepare && npm ci --omit=dev --no-audit --no-fund',
    'COPY trellis/bin ./bin',
    'COPY trellis/dist ./dist',
    '',
    `FROM ${NODE_IMAGE}`,
    'ENV NODE_ENV=production TRELLIS_HOME=/tmp/trellis TRELLIS_LOG_FORMAT=json',
    `COPY --from=install ${TRELLIS_DIR} ${TRELLIS_DIR}`,
    `RUN ln -s ${TRELLIS_DIR}/bin/trellis.js /usr/local/bin/trellis && trellis --version`,
    `# The node user, by number so that Kubernetes' runAsNonRoot can check it.`,
    `USER ${RUN_AS}:${RUN_AS}`,
    `EXPOSE ${HTTP_PORT} ${GRPC_PORT}`,
    `HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 CMD ["node", "-e", "fetch('http://127.0.0.1:${HTTP_PORT}/v2/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]`,
    'ENTRYPOINT ["trellis", "serve"]',
    `CMD ["--host", "0.0.0.0", "--port", "${HTTP_PORT}", "--grpc-port", "${GRPC_PORT}", "--auth"]`,
    '',
  ].join('\n');
}

const DOCKERIGNORE = [
  '# Only the Trellis package goes into the image.',
  '*',
  '!trellis/',
  '**/node_modules',
  '**/.trellis',
  '',
].join('\n');

function readmeText(o: { endpoint: string; name: string; format: K8sFormat; image: string; manifestFile: string; storeSecret: string; tokenSecret: string; namespace?: string }): string {
  const ns = o.namespace ? ` -n ${o.namespace}` : '';
  return `# Serving endpoint ${o.endpoint} on ${o.format === 'kubernetes' ? 'Kubernetes' : 'KServe'}

Generated by \`trellis deployments export ${o.endpoint} --format ${o.format}\`. The replicas run
\`trellis serve --endpoint ${o.endpoint}\` (OIP v2 REST on port ${HTTP_PORT}${o.format === 'kubernetes' ? `, gRPC on ${GRPC_PORT}` : ''}, authentication on),
read the endpoint and its models from the shared store and follow every change of
\`trellis deployments\` within a second: re-export only to change the image or the scaling.

1. Build and push the image (the build context is this folder; \`trellis/\` is the Trellis package):

       docker build -t ${o.image} .
       docker push ${o.image}

2. Create the Secret the pods read (PostgreSQL store, S3 artifacts; values are examples):

       kubectl create secret generic ${o.storeSecret}${ns} \\
         --from-literal=TRELLIS_STORE_URI=postgres://trellis@postgres:5432/trellis \\
         --from-literal=PGPASSWORD=… \\
         --from-literal=TRELLIS_ARTIFACTS_URI=s3://bucket/prefix \\
         --from-literal=AWS_ACCESS_KEY_ID=… --from-literal=AWS_SECRET_ACCESS_KEY=… \\
         --from-literal=AWS_REGION=…${o.tokenSecret === o.storeSecret ? ' \\\n         --from-literal=TRELLIS_ADMIN_TOKEN="$(openssl rand -base64 32)"' : ''}

   Add AWS_ENDPOINT_URL_S3 for MinIO and other S3-compatible stores. TRELLIS_ADMIN_TOKEN${o.tokenSecret === o.storeSecret ? '' : ` (in Secret ${o.tokenSecret})`} is
   optional: without it, the users and tokens of the store sign in (\`trellis users\`, \`trellis tokens\`).

3. Apply:

       kubectl apply${ns} -f ${o.manifestFile}

${o.format === 'kubernetes'
    ? `The Service \`${o.name}\` answers on http://${o.name}:${HTTP_PORT}/v2/models/${o.endpoint}/infer and gRPC ${o.name}:${GRPC_PORT}.
The HorizontalPodAutoscaler needs the metrics server. On SIGTERM a pod keeps serving ${PRESTOP_SECONDS} s while it
leaves the Service, then finishes the requests in flight (grace period ${GRACE_SECONDS} s).`
    : `KServe (Serverless mode, Knative) routes the HTTP port only; the custom container speaks the v2
protocol (\`PROTOCOL=v2\`). The /tmp volume is an emptyDir: Knative needs its
\`kubernetes.podspec-emptydir\` feature enabled, or use KServe's RawDeployment mode.`}
`;
}
