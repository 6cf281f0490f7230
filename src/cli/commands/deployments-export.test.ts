/**
 * `trellis deployments export` on a real workspace (SQLite, a trained model and an endpoint): the
 * Kubernetes and KServe resources as a cluster would get them, their schema checks, the image's
 * Dockerfile and build context, no secret value anywhere in what is written, and one-line errors
 * for an unknown endpoint, bad --replicas and an output folder that cannot be written.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { lintDockerfile, validateResources, type K8sResource } from '../../serving/k8s-validate.js';
import { Workspace } from '../../workspace/workspace.js';
import { runCli } from '../test-helpers/run-cli.js';

const ADULT = fileURLToPath(new URL('../../data/readers/fixtures/adult_train_head200.csv', import.meta.url));
// Secrets in the environment of the export: none may reach what it writes.
const SECRETS = { TRELLIS_ADMIN_TOKEN: 'admin-Zq8uT3vLw9pKx2mN7rB4cY6d', PGPASSWORD: 'pg-Hk3Jd8sLq0Wm', AWS_SECRET_ACCESS_KEY: 'aws-Xp9Lr2Tz5Qv8Ns1Mb4Kc' };
type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

describe('trellis deployments export', () => {
  let dir: string;
  let store: string[];
  const cli = (...args: string[]) => runCli([...store, 'deployments', 'export', ...args], { env: SECRETS });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-k8s-export-'));
    store = ['--store', `sqlite:${join(dir, 't.db')}`, '--artifacts', `file:${join(dir, 'a')}`];
    const ws = await Workspace.open({ store: store[1], artifacts: store[3] });
    try {
      await ws.training.train({ data: ADULT, target: 'income', algo: 'linear', register: 'income' }, { actor: 'alice' });
      await ws.registry.setAlias('income', 'champion', '1', { actor: 'alice' });
      await ws.deployments.create('income', { model: 'income@champion' }, { actor: 'alice' });
    } finally {
      await ws.close();
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('--format kubernetes --output-dir: checked resources, the image\'s build context and a README, no secret written', () => {
    const out = join(dir, 'k8s');
    const r = cli('income', '--format', 'kubernetes', '--output-dir', out, '--image', 'registry.example.com/ml/trellis:1.4.0', '--replicas', '3', '--max-replicas', '8', '--store-secret', 'ml-store');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /wrote kubernetes\.yaml \(Deployment, Service, HorizontalPodAutoscaler, PodDisruptionBudget\), Dockerfile, \.dockerignore, README\.md and the Trellis package/);
    const resources = parseAllDocuments(readFileSync(join(out, 'kubernetes.yaml'), 'utf8')).map((d) => d.toJS() as K8sResource & { spec: Any });
    assert.deepEqual(resources.map((x) => x.kind), ['Deployment', 'Service', 'HorizontalPodAutoscaler', 'PodDisruptionBudget']);
    assert.deepEqual(validateResources(resources), []);
    const deployment = resources[0]!;
    assert.equal(deployment.metadata.annotations?.['trellis/routes'], 'primary income@champion 100%');
    const c = deployment.spec.template.spec.containers[0];
    assert.equal(c.image, 'registry.example.com/ml/trellis:1.4.0');
    assert.deepEqual([...c.command, ...c.args], ['trellis', 'serve', '--endpoint', 'income', '--host', '0.0.0.0', '--port', '8080', '--grpc-port', '8081', '--auth']);
    assert.equal(c.readinessProbe.httpGet.path, '/v2/health/ready');
    assert.equal(c.livenessProbe.httpGet.path, '/v2/health/live');
    assert.deepEqual(c.ports.map((p: Any) => p.containerPort), [8080, 8081]);
    assert.deepEqual(c.env.find((e: Any) => e.name === 'TRELLIS_STORE_URI').valueFrom, { secretKeyRef: { name: 'ml-store', key: 'TRELLIS_STORE_URI' } });
    assert.deepEqual(c.env.find((e: Any) => e.name === 'TRELLIS_ADMIN_TOKEN').valueFrom, { secretKeyRef: { name: 'ml-store', key: 'TRELLIS_ADMIN_TOKEN', optional: true } });
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.equal(c.securityContext.runAsNonRoot, true);
    const hpa = resources[2]!;
    assert.deepEqual([hpa.spec.minReplicas, hpa.spec.maxReplicas, hpa.spec.metrics[0].resource.target.averageUtilization], [3, 8, 70]);

    const dockerfile = readFileSync(join(out, 'Dockerfile'), 'utf8');
    assert.deepEqual(lintDockerfile(dockerfile), []);
    assert.match(dockerfile, /^# {3}docker build -t registry\.example\.com\/ml\/trellis:1\.4\.0 \. && docker push/m);
    // Every COPY source is in the build context, and .dockerignore lets it through.
    for (const m of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) for (const src of m[1]!.split(' ')) assert.ok(existsSync(join(out, src)), `COPY ${src}`);
    assert.match(readFileSync(join(out, '.dockerignore'), 'utf8'), /^!trellis\/$/m);
    assert.ok(existsSync(join(out, 'trellis', 'dist', 'cli', 'main.js')) && existsSync(join(out, 'trellis', 'bin', 'trellis.js')));
    const readme = readFileSync(join(out, 'README.md'), 'utf8');
    for (const step of ['docker build -t registry.example.com/ml/trellis:1.4.0 .', 'docker push registry.example.com/ml/trellis:1.4.0', 'kubectl create secret generic ml-store', 'kubectl apply -f kubernetes.yaml']) assert.ok(readme.includes(step), step);

    for (const file of filesUnder(out)) {
      const text = readFileSync(file, 'utf8');
      for (const [name, value] of Object.entries(SECRETS)) assert.ok(!text.includes(value), `${name}'s value is in ${file}`);
    }
  });

  it('--format kserve on stdout: an InferenceService that passes its schema; --json gives the resources', () => {
    const r = cli('income', '--format', 'kserve', '--replicas', '1', '--max-replicas', '3');
    assert.equal(r.code, 0, r.stderr);
    const [isvc] = parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sResource & { spec: Any });
    assert.equal(isvc!.kind, 'InferenceService');
    assert.deepEqual(validateResources([isvc!]), []);
    const p = isvc!.spec.predictor;
    assert.deepEqual([p.minReplicas, p.maxReplicas], [1, 3]);
    assert.equal(p.containers[0].name, 'kserve-container');
    assert.deepEqual(p.containers[0].args.slice(0, 3), ['serve', '--endpoint', 'income']);
    assert.ok(p.containers[0].env.some((e: Any) => e.name === 'PROTOCOL' && e.value === 'v2'));
    for (const value of Object.values(SECRETS)) assert.ok(!r.stdout.includes(value));

    const json = runCli([...store, '--json', 'deployments', 'export', 'income', '--format', 'kserve']);
    assert.equal(json.code, 0, json.stderr);
    const body = JSON.parse(json.stdout) as { format: string; name: string; resources: K8sResource[] };
    assert.equal(body.format, 'kserve');
    assert.equal(body.resources[0]!.metadata.name, 'trellis-income');
  });

  it('an unknown endpoint, a bad --replicas and an output folder that cannot be written each get a one-line error', () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    const cases: [string[], RegExp][] = [
      [['nope'], /^error: No deployment named 'nope'/],
      [['income', '--replicas', '0'], /^error: --replicas '0' must be a whole number from 1 to 1000/],
      [['income', '--replicas', 'two'], /^error: --replicas 'two' must be a whole number/],
      [['income', '--replicas', '4', '--max-replicas', '2'], /^error: --max-replicas '2' must be a whole number from --replicas \(4\) to 1000/],
      [['income', '--output-dir', join(file, 'out')], /^error: --output-dir '.*a-file\/out' cannot be written \(ENOTDIR/],
      [['income', '--format', 'helm'], /^error: --format 'helm' is not supported: the formats are kubernetes, kserve/],
    ];
    for (const [args, message] of cases) {
      const r = cli(...args);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    }
  });
});
