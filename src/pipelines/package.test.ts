import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { isTrellisError } from '../core/errors.js';
import { sha256Hex } from '../core/hash.js';
import { pipelineHash } from './ir.js';
import { PACKAGE_LIMITS, buildPackage, packageHash, unpackPackage, verifyPackage, type PipelinePackage } from './package.js';
import { WAIT_MJS, writeTinyPipeline } from './triggers/test-helpers/deployable-pipeline.js';

/** The refusal of a package: its field and message. */
function refusal(obj: unknown): { field: string; message: string } {
  try {
    verifyPackage(obj);
  } catch (e) {
    assert.ok(isTrellisError(e, 'TRELLIS_PACKAGE_INVALID'), String(e));
    return { field: String(e.params.field), message: e.message };
  }
  assert.fail('expected TRELLIS_PACKAGE_INVALID');
}

const clone = (p: PipelinePackage): PipelinePackage => JSON.parse(JSON.stringify(p)) as PipelinePackage;
/** Re-seals a hand-edited package, so that only the edit itself is wrong. */
const reseal = (p: PipelinePackage): PipelinePackage => ({ ...p, sha256: packageHash(p) });

describe('pipeline packages', () => {
  let dir: string;
  let file: string;
  let pkg: PipelinePackage;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-pkg-'));
    file = join(dir, 'mixed', 'mixed.pipeline.yaml');
    mkdirSync(join(dir, 'mixed', 'scripts'), { recursive: true });
    mkdirSync(join(dir, 'mixed', 'lib', '.cache'), { recursive: true });
    writeFileSync(join(dir, 'mixed', 'wait.mjs'), WAIT_MJS);
    writeFileSync(join(dir, 'mixed', 'scripts', 'report.sh'), '#!/bin/sh\necho "$1" > "$2"\n');
    chmodSync(join(dir, 'mixed', 'scripts', 'report.sh'), 0o755);
    writeFileSync(join(dir, 'mixed', 'lib', 'util.mjs'), 'export const x = 1;\n');
    writeFileSync(join(dir, 'mixed', 'lib', '.cache', 'junk'), 'not packaged');
    writeFileSync(join(dir, 'mixed', 'notes.txt'), 'not named anywhere');
    writeFileSync(join(dir, 'outside.sh'), 'echo outside\n');
    writeFileSync(file, stringify({
      format: 'trellis.pipeline/v1', name: 'mixed', version: '2.0',
      components: [
        // Given as an absolute file: URL; the package records it relative to the pipeline's folder.
        { kind: 'typescript', name: 'wait', version: '1', module: pathToFileURL(join(dir, 'mixed', 'wait.mjs')).href, export: 'wait',
          inputs: { gate: { type: 'string', default: '' }, mark: { type: 'string', default: '' }, label: { type: 'string', default: 'x' }, repeat: { type: 'integer', default: 1 } },
          outputs: { done: { type: 'File' } } },
        { kind: 'command', name: 'report', version: '1', command: ['sh', 'scripts/report.sh', '../outside.sh', '{inputs.text}', '{outputs.out}'],
          inputs: { text: { type: 'File' } }, outputs: { out: { type: 'File' } } },
      ],
      steps: [
        { name: 'wait', component: 'wait' },
        { name: 'report', component: 'report', inputs: { text: { step: 'wait', output: 'done' } } },
      ],
      triggers: [{ cron: '0 3 * * *' }],
    }));
    pkg = await buildPackage(file, { include: ['lib'] });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('holds the pipeline file, component modules, scripts named by commands and included folders, in a stable order', async () => {
    assert.equal(pkg.format, 'trellis.pipeline-package/v1');
    assert.deepEqual([pkg.name, pkg.version, pkg.entry], ['mixed', '2.0', 'mixed.pipeline.yaml']);
    assert.deepEqual(pkg.files.map((f) => f.path), ['lib/util.mjs', 'mixed.pipeline.yaml', 'scripts/report.sh', 'wait.mjs'],
      'hidden folders, unnamed files and files outside the folder stay out');
    const script = pkg.files.find((f) => f.path === 'scripts/report.sh')!;
    assert.equal(script.mode, 0o755);
    assert.equal(script.sha256, sha256Hex(readFileSync(join(dir, 'mixed', 'scripts', 'report.sh'))));
    assert.equal(pkg.ir.components.find((c) => c.name === 'wait')!.kind === 'typescript' && (pkg.ir.components.find((c) => c.name === 'wait') as { module: string }).module, './wait.mjs');
    assert.equal(pkg.irHash, pipelineHash(pkg.ir));
    assert.deepEqual(pkg.ir.triggers, [{ cron: '0 3 * * *' }]);
    assert.match(pkg.trellisVersion, /^\d+\.\d+\.\d+/);
    assert.equal(pkg.sha256, packageHash(pkg));
    const again = await buildPackage(file, { include: ['lib'] });
    assert.equal(again.sha256, pkg.sha256, 'the same sources make the same package');
  });

  it('verifies after a trip through JSON and unpacks to files with their modes', async () => {
    const back = verifyPackage(JSON.parse(JSON.stringify(pkg)));
    assert.equal(back.sha256, pkg.sha256);
    const out = join(dir, 'unpacked');
    const entry = await unpackPackage(back, out);
    assert.equal(entry, join(out, 'mixed.pipeline.yaml'));
    for (const f of back.files) assert.equal(sha256Hex(readFileSync(join(out, f.path))), f.sha256, f.path);
    assert.equal(statSync(join(out, 'scripts', 'report.sh')).mode & 0o777, 0o755);
  });

  it('refuses a tampered file, naming it', () => {
    const p = clone(pkg);
    p.files[2]!.contentBase64 = Buffer.from('#!/bin/sh\nrm -rf ~\n').toString('base64');
    const r = refusal(p);
    assert.equal(r.field, 'files[2].sha256');
    assert.match(r.message, /the content of 'scripts\/report.sh' hashes to [0-9a-f]{64}, not the recorded/);
  });

  it('refuses a file whose recorded hash was changed with it: the package hash no longer holds', () => {
    const p = clone(pkg);
    const bytes = Buffer.from('#!/bin/sh\nexit 0\n');
    p.files[2]!.contentBase64 = bytes.toString('base64');
    p.files[2]!.sha256 = sha256Hex(bytes);
    assert.equal(refusal(p).field, 'sha256');
  });

  it('refuses unsafe and duplicate paths, and an entry that is not a file of the package', () => {
    for (const [path, why] of [['../escape.sh', "'..' segment"], ['/etc/cron.d/x', 'absolute path'], ['a\\b.sh', 'backslash'], ['a//b', "empty or '.' segment"]] as const) {
      const p = clone(pkg);
      p.files[0]!.path = path;
      const r = refusal(reseal(p));
      assert.equal(r.field, 'files[0].path', path);
      assert.ok(r.message.includes(why), r.message);
    }
    const dup = clone(pkg);
    dup.files[1] = { ...dup.files[0]! };
    assert.match(refusal(reseal(dup)).message, /files\[1\]\.path: 'lib\/util.mjs' appears twice \(also files\[0\]\)/);
    const entry = clone(pkg);
    entry.entry = 'other.yaml';
    assert.equal(refusal(reseal(entry)).field, 'entry');
  });

  it('refuses a wrong IR hash, an IR that is not valid, a component module missing from the files, and unknown fields', () => {
    const hash = clone(pkg);
    hash.irHash = '0'.repeat(64);
    assert.match(refusal(reseal(hash)).message, /^The pipeline package is refused: irHash: the IR hashes to [0-9a-f]{64}, not the recorded 0{64}$/);
    const ir = clone(pkg);
    (ir.ir.steps[0] as { retries: number }).retries = -1;
    assert.match(refusal(reseal(ir)).message, /ir: Pipeline .* is invalid: steps\[0\]\.retries: expected an integer from 0 to 100/);
    const bad = clone(pkg);
    (bad.ir as { triggers: unknown[] }).triggers = [{ cron: 'whenever' }];
    assert.match(refusal(reseal(bad)).message, /ir: Pipeline .* is invalid: triggers\[0\]\.cron: invalid cron expression 'whenever'/);
    const missing = clone(pkg);
    missing.files = missing.files.filter((f) => f.path !== 'wait.mjs');
    const r = refusal(reseal(missing));
    assert.equal(r.field, 'ir.components[0].module');
    const extra = { ...clone(pkg), signedBy: 'me' };
    assert.equal(refusal(extra).message, "The pipeline package is refused: (package): unknown field 'signedBy'");
    assert.equal(refusal({ format: 'trellis.pipeline-package/v1' }).message, 'The pipeline package is refused: name: missing (expected string)');
    assert.equal(refusal({ ...clone(pkg), format: 'zip' }).field, 'format');
    assert.equal(refusal([]).field, '(package)');
  });

  it('refuses to package a module outside the pipeline folder and files over the size cap, naming them', async () => {
    const out = writeTinyPipeline(dir, 'far');
    const text = readFileSync(out, 'utf8').replace('./components/wait.mjs', '../mixed/wait.mjs');
    writeFileSync(out, text);
    await assert.rejects(buildPackage(out), /component 'wait@1': module .*mixed\/wait.mjs is outside the pipeline's folder/);
    const big = writeTinyPipeline(dir, 'big');
    writeFileSync(join(dir, 'big', 'data.csv'), Buffer.alloc(PACKAGE_LIMITS.fileBytes + 1, 97));
    await assert.rejects(buildPackage(big, { include: ['data.csv'] }), /file 'data.csv' is 4\.0 MiB; a package holds files of at most 4\.0 MiB/);
    await assert.rejects(buildPackage(big, { include: ['nothing-here'] }), /include 'nothing-here': no such file or folder/);
  });
});
