/**
 * The executors as they run from the build (`dist/`, plain Node, no tsx loader): the executor
 * modules are compiled to JavaScript into a temporary tree (only these files, so the test does not
 * depend on, or disturb, a full build), and a plain `node` process runs JavaScript and TypeScript
 * components through them, in a worker and in a child process.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildInto } from './test-helpers/transpile.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'trellis-exec-dist-'));
  buildInto(join(HERE, 'index.ts'), dir);
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('executors from the build', () => {
  it('run JavaScript and TypeScript components in a worker and a child process under plain Node', () => {
    const script = `
      import { readFileSync } from 'node:fs';
      import { runTypeScriptStep } from './dist/pipelines/executors/index.js';
      const out = {};
      const step = (name, module, exportName, outputs, inputs = {}) => ({ step: name, inputs, outputs, outputDir: 'runs/' + name,
        component: { name, version: '1', kind: 'typescript', module, export: exportName } });
      for (const isolation of ['worker', 'process']) {
        const js = await runTypeScriptStep(step('js-' + isolation, ${JSON.stringify(join(HERE, 'test-helpers/plain.mjs'))}, 'run', { out: { type: 'File' } }), { isolation });
        out['js-' + isolation] = js.metrics;
        const tsr = await runTypeScriptStep(step('ts-' + isolation, ${JSON.stringify(join(HERE, 'test-helpers/components.ts'))}, 'writesOnlyModel', { model: { type: 'Model' } }), { isolation });
        out['ts-' + isolation] = tsr.outputs.model.sha256;
        const cjs = await runTypeScriptStep(step('cjs-' + isolation, ${JSON.stringify(join(HERE, 'test-helpers/cjs/typed.ts'))}, 'run', { out: { type: 'File' } }), { isolation });
        out['cjs-' + isolation] = readFileSync(cjs.outputs.out.path, 'utf8');
        try {
          await runTypeScriptStep(step('fail-' + isolation, ${JSON.stringify(join(HERE, 'test-helpers/components.ts'))}, 'fails', {}, { alpha: 7 }), { isolation });
        } catch (e) {
          out['fail-' + isolation] = { code: e.code, message: e.message };
        }
      }
      console.log(JSON.stringify(out));`;
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    const stdout = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, env, encoding: 'utf8', timeout: 30_000 });
    const out = JSON.parse(stdout.trim().split('\n').pop()!);
    const sha = '62c66a7a5dd70c3146618063c344e531e6d4b59e379808443ce962b3abd63c5a'; // sha256 of the one byte "m"
    for (const isolation of ['worker', 'process']) {
      assert.deepEqual(out[`js-${isolation}`], { answer: 42 });
      assert.equal(out[`ts-${isolation}`], sha);
      assert.equal(out[`cjs-${isolation}`], 'typescript, commonjs');
      assert.equal(out[`fail-${isolation}`].code, 'TRELLIS_STEP_FAILED');
      assert.match(out[`fail-${isolation}`].message, /bad value for alpha: 7 \(at .*test-helpers\/components\.ts:\d+:\d+\)/);
    }
  });
});
