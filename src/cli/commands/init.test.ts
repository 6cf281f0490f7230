import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { initProject, nameFromDir } from './init.js';

/**
 * The fields of a GitHub Actions workflow this check relies on, as GitHub documents them in
 * "Workflow syntax for GitHub Actions" (docs.github.com/actions/reference/workflow-syntax-for-github-actions):
 * `on` (an event, a list of events, or a map of events to their filters), `jobs.<job_id>` with an id
 * of letters, digits, `-` and `_` starting with a letter or `_`, `runs-on`, and `steps`, each step
 * running either an action (`uses`, with its `with` inputs) or a shell command (`run`), never both.
 * Unknown keys are refused, so a misspelt field fails here rather than on GitHub.
 */
const expression = z.string().regex(/^\$\{\{ [^}]+ \}\}$/, 'a ${{ … }} expression');
const step = z.strictObject({
  id: z.string().optional(),
  name: z.string().optional(),
  if: z.string().optional(),
  uses: z.string().regex(/^[\w.-]+\/[\w.-]+(\/[\w./-]+)?@[\w.-]+$|^\.\/|^docker:\/\//, 'owner/repo@ref, ./path or docker://image').optional(),
  with: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  run: z.string().min(1).optional(),
  shell: z.string().optional(),
  env: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  'working-directory': z.string().optional(),
  'continue-on-error': z.union([z.boolean(), expression]).optional(),
  'timeout-minutes': z.number().positive().optional(),
}).refine((s) => (s.uses === undefined) !== (s.run === undefined), 'a step has either uses or run');
const job = z.strictObject({
  name: z.string().optional(),
  'runs-on': z.union([z.string(), z.array(z.string()).min(1)]),
  needs: z.union([z.string(), z.array(z.string())]).optional(),
  if: z.string().optional(),
  permissions: z.union([z.string(), z.record(z.string(), z.string())]).optional(),
  env: z.record(z.string(), z.string()).optional(),
  'timeout-minutes': z.number().positive().optional(),
  steps: z.array(step).min(1),
});
const events = ['push', 'pull_request', 'workflow_dispatch', 'schedule', 'release'] as const;
const workflow = z.strictObject({
  name: z.string().optional(),
  on: z.union([
    z.enum(events),
    z.array(z.enum(events)).min(1),
    z.partialRecord(z.enum(events), z.union([z.null(), z.strictObject({ branches: z.array(z.string()).optional(), tags: z.array(z.string()).optional(), paths: z.array(z.string()).optional() })])),
  ]),
  permissions: z.union([z.string(), z.record(z.string(), z.string())]).optional(),
  env: z.record(z.string(), z.string()).optional(),
  jobs: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, 'a job id'), job),
});

describe('trellis init', () => {
  let root: string;
  before(() => { root = mkdtempSync(join(tmpdir(), 'trellis-init-unit-')); });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('writes the project files, named after the folder', async () => {
    const dir = join(root, 'bike demand');
    const r = await initProject(dir);
    assert.equal(r.name, 'bike-demand');
    assert.deepEqual(r.files, [
      '.github/workflows/trellis.yml', '.gitignore', 'README.md', 'components/drop-columns.test.ts', 'components/drop-columns.ts',
      'data/README.md', 'data/bike-sample.csv', 'package.json', 'pipeline.ts', 'tsconfig.json',
    ]);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { type: string; scripts: Record<string, string>; dependencies: Record<string, string>; devDependencies: Record<string, string> };
    const own = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    assert.equal(pkg.type, 'module');
    assert.deepEqual(pkg.dependencies, { trellis: `^${own.version}` });
    assert.ok(pkg.devDependencies.typescript && pkg.devDependencies['@types/node']);
    assert.equal(pkg.scripts.ci, 'trellis ci pipeline.ts --out dist/pipeline.pkg.json --include data/bike-sample.csv');
    assert.equal(pkg.scripts.run, 'trellis run pipeline.ts');
    assert.deepEqual(readFileSync(join(dir, '.gitignore'), 'utf8').trim().split('\n').sort(), ['.trellis/', 'dist/', 'node_modules/']);
    assert.match(readFileSync(join(dir, 'pipeline.ts'), 'utf8'), /from 'trellis\/pipelines'/);
    assert.match(readFileSync(join(dir, 'pipeline.ts'), 'utf8'), /pipeline\('bike-demand',/);
    // The sample is the head of the cited file: its header and first 2000 rows, LF-terminated.
    const sample = readFileSync(join(dir, 'data/bike-sample.csv'), 'utf8').split('\n');
    const source = readFileSync(new URL('../../../examples/data/bike_sharing_hourly.csv', import.meta.url), 'utf8').split('\r\n');
    assert.equal(sample.length, 2002);
    assert.deepEqual(sample.slice(0, 2001), source.slice(0, 2001));
    assert.match(readFileSync(join(dir, 'data/README.md'), 'utf8'), /doi\.org\/10\.24432\/C5W894[\s\S]*CC BY 4\.0/);
  });

  it('writes a GitHub Actions workflow that runs trellis ci and deploys on pushes to main', async () => {
    const dir = join(root, 'wf');
    await initProject(dir, { name: 'wf' });
    const doc = parse(readFileSync(join(dir, '.github/workflows/trellis.yml'), 'utf8')) as unknown;
    const r = workflow.safeParse(doc);
    assert.ok(r.success, r.success ? '' : JSON.stringify(r.error.issues));
    const wf = r.data;
    const on = wf.on as Record<string, unknown>;
    assert.deepEqual(Object.keys(on).sort(), ['pull_request', 'push']);
    const jobs = Object.values(wf.jobs);
    assert.equal(jobs.length, 1);
    const steps = jobs[0]!.steps;
    assert.match(steps[0]!.uses!, /^actions\/checkout@v\d+$/);
    assert.match(steps[1]!.uses!, /^actions\/setup-node@v\d+$/);
    assert.equal(steps[1]!.with!['node-version'], 20);
    assert.equal(steps[2]!.run, 'npm ci');
    assert.equal(steps[3]!.run, 'npx trellis ci pipeline.ts --out dist/pipeline.pkg.json --include data/bike-sample.csv');
    assert.equal(steps[3]!.if, undefined);
    const deploy = steps[4]!;
    assert.equal(deploy.if, "github.ref == 'refs/heads/main' && github.event_name == 'push'");
    assert.equal(deploy.run, 'npx trellis pipelines deploy dist/pipeline.pkg.json --server ${{ vars.TRELLIS_SERVER }}');
    assert.equal(deploy.env!.TRELLIS_TOKEN, '${{ secrets.TRELLIS_TOKEN }}');
    assert.equal(steps.length, 5);
  });

  it('the schema refuses what GitHub would: a step with both uses and run, a job without runs-on', () => {
    const base = { on: 'push', jobs: { a: { 'runs-on': 'ubuntu-latest', steps: [{ run: 'true' }] } } };
    assert.ok(workflow.safeParse(base).success);
    assert.ok(!workflow.safeParse({ ...base, jobs: { a: { 'runs-on': 'ubuntu-latest', steps: [{ run: 'x', uses: 'actions/checkout@v4' }] } } }).success);
    assert.ok(!workflow.safeParse({ ...base, jobs: { a: { steps: [{ run: 'x' }] } } }).success);
    assert.ok(!workflow.safeParse({ ...base, jobs: { a: { 'runs-on': 'ubuntu-latest', steps: [{ run: 'x', iff: 'y' }] } } }).success);
  });

  it('with --yaml, writes pipeline.yaml and points the scripts and the workflow at it', async () => {
    const dir = join(root, 'y');
    const r = await initProject(dir, { yaml: true });
    assert.ok(r.files.includes('pipeline.yaml') && !r.files.includes('pipeline.ts'));
    const { parsePipeline } = await import('../../pipelines/ir.js');
    const ir = parsePipeline(readFileSync(join(dir, 'pipeline.yaml'), 'utf8'), 'pipeline.yaml');
    assert.deepEqual(ir.steps.map((s) => s.name), ['ingest', 'validate', 'features', 'split', 'train', 'evaluate', 'gate', 'register']);
    assert.match(readFileSync(join(dir, '.github/workflows/trellis.yml'), 'utf8'), /npx trellis ci pipeline\.yaml/);
  });

  it('refuses to overwrite existing files, naming them, unless --force', async () => {
    const dir = join(root, 'taken');
    mkdirSync(join(dir, 'components'), { recursive: true });
    writeFileSync(join(dir, 'README.md'), 'mine\n');
    writeFileSync(join(dir, 'components/drop-columns.ts'), 'mine\n');
    await assert.rejects(initProject(dir), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'TRELLIS_INVALID_PARAMETER');
      assert.match(e.message, /already has README\.md, components\/drop-columns\.ts: trellis init does not overwrite files; pass --force/);
      return true;
    });
    assert.equal(readFileSync(join(dir, 'README.md'), 'utf8'), 'mine\n');
    assert.ok(!existsSync(join(dir, 'pipeline.ts')), 'nothing is written when a file is refused');
    const r = await initProject(dir, { force: true });
    assert.deepEqual(r.overwritten, ['README.md', 'components/drop-columns.ts']);
    assert.notEqual(readFileSync(join(dir, 'README.md'), 'utf8'), 'mine\n');
  });

  it('takes the trellis dependency from --trellis, for a checkout or a git URL, and refuses one with spaces', async () => {
    const dir = join(root, 'from-checkout');
    await initProject(dir, { trellis: 'file:../trellis' });
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    assert.deepEqual(pkg.dependencies, { trellis: 'file:../trellis' });
    await assert.rejects(initProject(join(root, 'bad-spec'), { trellis: 'file:../my trellis' }), /--trellis 'file:..\/my trellis' is not a dependency spec/);
    assert.ok(!existsSync(join(root, 'bad-spec', 'package.json')));
  });

  it('refuses a name that is not a pipeline name', async () => {
    await assert.rejects(initProject(join(root, 'n'), { name: '9 lives' }), /--name '9 lives' is not a pipeline name/);
    assert.equal(nameFromDir('/x/42 my_proj!'), 'my_proj');
    assert.equal(nameFromDir('/x/123'), 'pipeline');
  });
});
