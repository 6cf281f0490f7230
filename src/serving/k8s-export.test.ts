/**
 * The Kubernetes and KServe export of a serving endpoint: the resources' important fields (the
 * command, probes, ports, Secret references, security context, autoscaler), their schema checks
 * passing, broken resources and Dockerfiles refused with the field named, and bad options refused.
 * The export from a real workspace, through the CLI, is in src/cli/commands/deployments-export.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseAllDocuments } from 'yaml';
import { exportDeployment, GRACE_SECONDS, PRESTOP_SECONDS, servingDockerfile, type ExportedDeployment } from './k8s-export.js';
import { checkSchema, lintDockerfile, validateResource, validateResources, type K8sResource, type Schema } from './k8s-validate.js';

const INCOME: ExportedDeployment = { name: 'income', revision: 4, routes: [{ role: 'primary', model: 'income@champion', share: 90 }, { role: 'canary', model: 'income/7', share: 10 }] };

interface Container {
  name: string; image: string; command: string[]; args: string[];
  ports: { name: string; containerPort: number }[];
  env: { name: string; value?: string; valueFrom?: { secretKeyRef: { name: string; key: string; optional?: boolean } } }[];
  envFrom: { secretRef: { name: string } }[];
  readinessProbe: { httpGet: { path: string; port: string | number } };
  livenessProbe: { httpGet: { path: string; port: string | number } };
  startupProbe?: unknown;
  lifecycle?: { preStop: { exec: { command: string[] } } };
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  securityContext: Record<string, unknown>;
  volumeMounts: { name: string; mountPath: string }[];
}
type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const clone = <T>(v: T): T => structuredClone(v);
const byKind = (resources: readonly K8sResource[], kind: string) => resources.find((r) => r.kind === kind) as K8sResource & { spec: Any };

describe('trellis deployments export: the resources', () => {
  it('kubernetes: a Deployment running trellis serve with probes, ports, Secret references and a locked-down pod', () => {
    const r = exportDeployment(INCOME, { format: 'kubernetes', image: 'registry.example.com/ml/trellis:1.4.0', namespace: 'ml' });
    assert.deepEqual(r.resources.map((x) => `${x.apiVersion} ${x.kind}`), ['apps/v1 Deployment', 'v1 Service', 'autoscaling/v2 HorizontalPodAutoscaler', 'policy/v1 PodDisruptionBudget']);
    assert.equal(r.name, 'trellis-income');
    // The YAML stream is the resources, document for document.
    const docs = parseAllDocuments(r.yaml).map((d) => d.toJS() as K8sResource);
    assert.deepEqual(docs, JSON.parse(JSON.stringify(r.resources)));
    const deployment = byKind(docs, 'Deployment');
    assert.equal(deployment.metadata.namespace, 'ml');
    assert.equal(deployment.metadata.annotations?.['trellis/exported-revision'], '4');
    assert.equal(deployment.metadata.annotations?.['trellis/routes'], 'primary income@champion 90%, canary income/7 10%');
    assert.equal(deployment.spec.replicas, undefined, 'the autoscaler owns the replica count');
    const pod = deployment.spec.template.spec as Any;
    const c = pod.containers[0] as Container;
    assert.equal(c.image, 'registry.example.com/ml/trellis:1.4.0');
    assert.deepEqual([...c.command, ...c.args], ['trellis', 'serve', '--endpoint', 'income', '--host', '0.0.0.0', '--port', '8080', '--grpc-port', '8081', '--auth']);
    assert.deepEqual(c.ports.map((p) => [p.name, p.containerPort]), [['http', 8080], ['grpc', 8081]]);
    assert.deepEqual(c.readinessProbe.httpGet, { path: '/v2/health/ready', port: 'http' });
    assert.deepEqual(c.livenessProbe.httpGet, { path: '/v2/health/live', port: 'http' });
    assert.ok(c.startupProbe, 'a startup probe covers the loading of the models');
    // Secrets by reference only: the store, the artifact store, the admin token, the credentials.
    const fromSecret = Object.fromEntries(c.env.filter((e) => e.valueFrom).map((e) => [e.name, e.valueFrom!.secretKeyRef]));
    assert.deepEqual(fromSecret, {
      TRELLIS_STORE_URI: { name: 'trellis-store', key: 'TRELLIS_STORE_URI' },
      TRELLIS_ARTIFACTS_URI: { name: 'trellis-store', key: 'TRELLIS_ARTIFACTS_URI' },
      TRELLIS_ADMIN_TOKEN: { name: 'trellis-store', key: 'TRELLIS_ADMIN_TOKEN', optional: true },
    });
    assert.deepEqual(c.envFrom, [{ secretRef: { name: 'trellis-store' } }]);
    assert.deepEqual(c.env.filter((e) => e.value !== undefined).map((e) => e.name), ['TRELLIS_HOME', 'TRELLIS_LOG_FORMAT']);
    assert.deepEqual(c.securityContext, {
      runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
    });
    assert.equal(pod.securityContext.runAsNonRoot, true);
    // The read-only root filesystem leaves /tmp writable, where TRELLIS_HOME points.
    assert.deepEqual(c.volumeMounts, [{ name: 'tmp', mountPath: '/tmp' }]);
    assert.ok(pod.volumes.some((v: Any) => v.name === 'tmp' && v.emptyDir));
    assert.deepEqual(c.resources, { requests: { cpu: '500m', memory: '1Gi' }, limits: { cpu: '2', memory: '1Gi' } });
    // SIGTERM: the pause while the pod leaves the Service, then the drain, within the grace period.
    assert.deepEqual(c.lifecycle?.preStop.exec.command, ['sleep', String(PRESTOP_SECONDS)]);
    assert.equal(pod.terminationGracePeriodSeconds, GRACE_SECONDS);
    assert.ok(GRACE_SECONDS >= PRESTOP_SECONDS + 30);
    assert.deepEqual(deployment.spec.selector.matchLabels, { 'app.kubernetes.io/name': 'trellis-serve', 'app.kubernetes.io/instance': 'trellis-income' });
  });

  it('kubernetes: a Service with the http and grpc ports, an autoscaler on CPU and a disruption budget', () => {
    const r = exportDeployment(INCOME, { format: 'kubernetes', replicas: 3, maxReplicas: 12, cpuTarget: 60 });
    const service = byKind(r.resources, 'Service');
    assert.deepEqual(service.spec.ports.map((p: Any) => [p.name, p.port, p.targetPort]), [['http', 8080, 'http'], ['grpc', 8081, 'grpc']]);
    assert.deepEqual(service.spec.selector, byKind(r.resources, 'Deployment').spec.selector.matchLabels);
    const hpa = byKind(r.resources, 'HorizontalPodAutoscaler');
    assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'trellis-income' });
    assert.equal(hpa.spec.minReplicas, 3);
    assert.equal(hpa.spec.maxReplicas, 12);
    assert.deepEqual(hpa.spec.metrics, [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 60 } } }]);
    assert.deepEqual(byKind(r.resources, 'PodDisruptionBudget').spec, { maxUnavailable: 1, selector: { matchLabels: service.spec.selector } });
    // One replica: no budget (it would protect nothing).
    const one = exportDeployment(INCOME, { format: 'kubernetes', replicas: 1 });
    assert.equal(one.resources.some((x) => x.kind === 'PodDisruptionBudget'), false);
    assert.equal(byKind(one.resources, 'HorizontalPodAutoscaler').spec.maxReplicas, 10);
    assert.deepEqual(validateResources(r.resources), []);
  });

  it('kserve: an InferenceService with the same container under KServe\'s custom-container conventions', () => {
    const r = exportDeployment(INCOME, { format: 'kserve', replicas: 2, maxReplicas: 4, storeSecret: 'ml-store', tokenSecret: 'ml-admin' });
    assert.equal(r.manifestFile, 'inferenceservice.yaml');
    const [isvc] = parseAllDocuments(r.yaml).map((d) => d.toJS() as K8sResource & { spec: Any });
    assert.equal(isvc!.apiVersion, 'serving.kserve.io/v1beta1');
    assert.equal(isvc!.kind, 'InferenceService');
    const p = isvc!.spec.predictor;
    assert.equal(p.minReplicas, 2);
    assert.equal(p.maxReplicas, 4);
    assert.equal(p.scaleMetric, 'cpu');
    const c = p.containers[0] as Container;
    assert.equal(c.name, 'kserve-container');
    assert.deepEqual([...c.command, ...c.args].slice(0, 4), ['trellis', 'serve', '--endpoint', 'income']);
    assert.deepEqual(c.ports, [{ name: 'http1', containerPort: 8080, protocol: 'TCP' }]);
    assert.deepEqual(c.env[0], { name: 'PROTOCOL', value: 'v2' });
    assert.equal(c.readinessProbe.httpGet.path, '/v2/health/ready');
    assert.equal(c.readinessProbe.httpGet.port, 8080);
    assert.equal(c.startupProbe, undefined, 'Knative refuses startup probes');
    assert.equal(c.lifecycle, undefined, 'Knative refuses lifecycle hooks');
    assert.equal(p.terminationGracePeriodSeconds, undefined, 'Knative sets the grace period itself');
    assert.equal(c.securityContext.runAsGroup, undefined, 'Knative takes runAsGroup only behind a feature flag');
    assert.deepEqual(c.env.find((e) => e.name === 'TRELLIS_ADMIN_TOKEN')?.valueFrom, { secretKeyRef: { name: 'ml-admin', key: 'TRELLIS_ADMIN_TOKEN', optional: true } });
    assert.deepEqual(c.envFrom, [{ secretRef: { name: 'ml-store' } }]);
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.match(r.readme, /kubectl create secret generic ml-store/);
    assert.match(r.readme, /Secret ml-admin/);
  });

  it('names resources after the endpoint as Kubernetes allows, keeping the endpoint\'s own name in the command', () => {
    const r = exportDeployment({ ...INCOME, name: 'Income_Model.v2' }, { format: 'kubernetes' });
    assert.equal(r.name, 'trellis-income-model-v2');
    assert.deepEqual(validateResources(r.resources), []);
    const c = byKind(r.resources, 'Deployment').spec.template.spec.containers[0] as Container;
    assert.equal(c.args[2], 'Income_Model.v2');
    assert.throws(() => exportDeployment({ ...INCOME, name: '___' }, { format: 'kubernetes' }), /no letter or digit/);
  });

  it('refuses bad options, naming the option', () => {
    const cases: [Parameters<typeof exportDeployment>[1], RegExp][] = [
      [{ format: 'helm' as 'kubernetes' }, /--format 'helm'.*kubernetes, kserve/],
      [{ format: 'kubernetes', replicas: 0 }, /--replicas '0'/],
      [{ format: 'kubernetes', replicas: 2.5 }, /--replicas '2.5'/],
      [{ format: 'kubernetes', replicas: 5, maxReplicas: 3 }, /--max-replicas '3' must be .* from --replicas \(5\)/],
      [{ format: 'kubernetes', cpuTarget: 0 }, /--cpu-target '0'/],
      [{ format: 'kubernetes', storeSecret: 'My_Secret' }, /--store-secret 'My_Secret' is not a Kubernetes Secret name/],
      [{ format: 'kubernetes', memory: '1 GB' }, /--memory '1 GB' is not a Kubernetes quantity/],
      [{ format: 'kubernetes', cpu: '4', cpuLimit: '2' }, /--cpu-limit 2 is below the --cpu request 4/],
      [{ format: 'kubernetes', image: 'Trellis:1' }, /--image 'Trellis:1' is not an image reference/],
      [{ format: 'kubernetes', image: 'trellis:latest' }, /tag latest/],
      [{ format: 'kubernetes', namespace: 'ML' }, /--namespace 'ML'/],
    ];
    for (const [options, message] of cases) assert.throws(() => exportDeployment(INCOME, options), message, JSON.stringify(options));
  });
});

describe('trellis deployments export: the schema checks', () => {
  const kube = exportDeployment(INCOME, { format: 'kubernetes' }).resources;
  const kserve = exportDeployment(INCOME, { format: 'kserve' }).resources;

  it('passes what the export writes', () => {
    assert.deepEqual(validateResources(kube), []);
    assert.deepEqual(validateResources(kserve), []);
  });

  it('refuses a deliberately broken resource, naming the resource and the field', () => {
    const broken = (mutate: (rs: Any[]) => void, resources = kube): string[] => {
      const copy = clone(resources) as Any[];
      mutate(copy);
      return validateResources(copy as K8sResource[]);
    };
    const of = (rs: Any[], kind: string): Any => rs.find((r) => r.kind === kind)!;
    const dep = (rs: Any[]) => of(rs, 'Deployment');
    const container = (rs: Any[]) => dep(rs).spec.template.spec.containers[0];
    const cases: [string, (rs: Any[]) => void, RegExp, K8sResource[]?][] = [
      ['a port as text', (rs) => { container(rs).ports[0].containerPort = '8080'; }, /Deployment trellis-income: spec\.template\.spec\.containers\[0\]\.ports\[0\]\.containerPort: expected an integer, got "8080"/],
      ['a misspelt field', (rs) => { container(rs).readinesProbe = container(rs).readinessProbe; }, /containers\[0\]\.readinesProbe: unknown field/],
      ['no selector', (rs) => { delete dep(rs).spec.selector; }, /Deployment trellis-income: spec\.selector: required/],
      ['a wrong apiVersion', (rs) => { of(rs, 'HorizontalPodAutoscaler').apiVersion = 'autoscaling/v1'; }, /autoscaling\/v1 HorizontalPodAutoscaler is not a resource the export knows/],
      ['a wrong enum value', (rs) => { of(rs, 'Service').spec.type = 'Public'; }, /Service trellis-income: spec\.type: "Public" is not one of/],
      ['an out-of-range int32', (rs) => { of(rs, 'HorizontalPodAutoscaler').spec.maxReplicas = 2 ** 40; }, /spec\.maxReplicas: 1099511627776 is out of the int32 range/],
      ['a probe on a port the container lacks', (rs) => { container(rs).livenessProbe.httpGet.port = 'metrics'; }, /livenessProbe\.httpGet\.port: "metrics" is not a port of the container/],
      ['a selector matching no pod', (rs) => { dep(rs).spec.template.metadata.labels['app.kubernetes.io/instance'] = 'other'; }, /spec\.selector\.matchLabels: app\.kubernetes\.io\/instance=trellis-income matches no label of the pods/],
      ['a Service port naming no pod port', (rs) => { of(rs, 'Service').spec.ports[1].targetPort = 'h2'; }, /spec\.ports\[1\]\.targetPort: 'h2' names no port of the pods/],
      ['min above max replicas', (rs) => { of(rs, 'HorizontalPodAutoscaler').spec.minReplicas = 20; }, /maxReplicas: 10 is below minReplicas 20/],
      ['an autoscaler aimed elsewhere', (rs) => { of(rs, 'HorizontalPodAutoscaler').spec.scaleTargetRef.name = 'other'; }, /scaleTargetRef: apps\/v1 Deployment other is not among the exported resources/],
      ['a root container', (rs) => { container(rs).securityContext.runAsNonRoot = false; }, /securityContext\.runAsNonRoot: must be true/],
      ['a writable root filesystem', (rs) => { delete container(rs).securityContext.readOnlyRootFilesystem; }, /readOnlyRootFilesystem: must be true/],
      ['a secret written in the manifest', (rs) => { container(rs).env.push({ name: 'PGPASSWORD', value: 'hunter2' }); }, /env\[\d+\] PGPASSWORD: a secret's value is written in the manifest/],
      ['an invalid name', (rs) => { of(rs, 'Service').metadata.name = '1-income'; }, /Service 1-income: metadata\.name: '1-income' is not a valid Service name/],
      ['a KServe predictor field misspelt', (rs) => { rs[0]!.spec.predictor.minReplica = 1; }, /InferenceService trellis-income: spec\.predictor\.minReplica: unknown field/, kserve],
      ['a KServe scale metric it does not know', (rs) => { rs[0]!.spec.predictor.scaleMetric = 'gpu'; }, /spec\.predictor\.scaleMetric: "gpu" is not one of "cpu", "memory", "concurrency", "rps"/, kserve],
    ];
    for (const [what, mutate, message, resources] of cases) {
      const problems = broken(mutate, resources);
      assert.ok(problems.some((p) => message.test(p)), `${what}: ${JSON.stringify(problems)}`);
    }
  });

  it('the checker follows $ref, int-or-string and additionalProperties as the schemas use them', () => {
    const schema: Schema = { type: 'object', required: ['port'], properties: { port: { $ref: '#/definitions/Port' }, labels: { type: 'object', additionalProperties: { type: 'string' } } } };
    const doc = { definitions: { Port: { 'x-kubernetes-int-or-string': true } as Schema } };
    assert.deepEqual(checkSchema({ port: 'http', labels: { a: 'b' } }, schema, doc), []);
    assert.deepEqual(checkSchema({ port: 8080 }, schema, doc), []);
    assert.deepEqual(checkSchema({ port: 1.5, labels: { a: 1 } }, schema, doc), ['port: expected an integer or a string, got 1.5', 'labels.a: expected a string, got 1']);
    assert.deepEqual(checkSchema({}, schema, doc), ['port: required']);
    assert.deepEqual(checkSchema({ port: 1 }, { $ref: '#/definitions/Nope' }, doc), ['(top): the schema names #/definitions/Nope, which it does not define']);
    assert.match(validateResource({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, spec: {} })[0]!, /v1 ConfigMap is not a resource the export knows/);
  });
});

describe('trellis deployments export: the Dockerfile', () => {
  it('is node:20-slim, installs with npm ci --omit=dev without the onnxruntime download, runs as a user, serves, and passes the lint', () => {
    const text = servingDockerfile({ image: 'trellis:1', endpoint: 'income' });
    assert.deepEqual(lintDockerfile(text), []);
    assert.match(text, /^FROM node:20-slim AS install$/m);
    assert.match(text, /npm ci --omit=dev/);
    assert.match(text, /^ENV npm_config_onnxruntime_node_install=skip$/m);
    assert.match(text, /^USER 1000:1000$/m);
    assert.match(text, /^ENTRYPOINT \["trellis", "serve"\]$/m);
    assert.match(text, /^HEALTHCHECK .*\/v2\/health\/live/m);
    assert.match(text, /^EXPOSE 8080 8081$/m);
  });

  it('the lint refuses what it is there to refuse', () => {
    const good = servingDockerfile({ image: 'trellis:1', endpoint: 'income' });
    const cases: [string, string, RegExp][] = [
      ['no FROM first', `RUN echo hi\n${good}`, /the first instruction must be FROM, not RUN/],
      ['an unknown instruction', good.replace('EXPOSE', 'EXPOS'), /unknown instruction EXPOS/],
      ['latest', good.replace(/^FROM node:20-slim$/m, 'FROM node:latest'), /FROM node:latest uses the tag latest/],
      ['no tag', good.replace(/^FROM node:20-slim$/m, 'FROM node'), /FROM node has no tag/],
      ['no USER', good.replace(/^USER .*$/m, ''), /sets no USER/],
      ['USER root', good.replace(/^USER .*$/m, 'USER root'), /USER root is root/],
      ['no HEALTHCHECK', good.replace(/^HEALTHCHECK .*$/m, ''), /no HEALTHCHECK/],
      ['an unknown instruction after a continuation', `${good}RUN echo \\\n  hi\nCOPYY a b\n`, /line \d+: unknown instruction COPYY/],
    ];
    for (const [what, text, message] of cases) assert.ok(lintDockerfile(text).some((p) => message.test(p)), `${what}: ${JSON.stringify(lintDockerfile(text))}`);
    // A stage named by an earlier FROM is not an image to pin; ARG may come before FROM.
    assert.deepEqual(lintDockerfile('ARG V=20\nFROM node:20-slim AS build\nFROM build\nUSER 1000\nHEALTHCHECK CMD true\nCMD ["x"]\n'), []);
  });
});
