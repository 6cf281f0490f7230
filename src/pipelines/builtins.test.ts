import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ALGOS, trainerDefaults } from '../ml/train.js';
import { BUILTIN_LIST, BUILTINS, findBuiltin } from './builtins.js';
import { validatePipeline } from './ir.js';

describe('built-in components', () => {
  it('are valid component definitions, one per name', () => {
    const ir = validatePipeline({
      format: 'trellis.pipeline/v1', name: 'all', components: BUILTIN_LIST,
      steps: [{ name: 'x', component: 'ingest', inputs: { dataset: 'd' } }],
    }, 'builtins');
    assert.deepEqual(ir.components, JSON.parse(JSON.stringify(BUILTIN_LIST)));
    assert.deepEqual(BUILTIN_LIST.map((b) => b.name), ['ingest', 'validate', 'split', 'train', 'evaluate', 'gate', 'register', 'batch-score']);
    assert.equal(findBuiltin('batch-score'), BUILTINS.batchScore);
    assert.equal(findBuiltin('train', '2'), undefined);
  });

  it("train declares the trainers' own parameters, under the names the trainers take", () => {
    const known = new Set(ALGOS.flatMap((a) => Object.keys(trainerDefaults(a))));
    const own = ['data', 'target', 'algo', 'task', 'exclude'];
    const hyper = Object.keys(BUILTINS.train.inputs).filter((k) => !own.includes(k));
    assert.ok(hyper.length >= 10);
    for (const k of hyper) assert.ok(known.has(k), `train input '${k}' is not a parameter of any trainer`);
    assert.deepEqual([...BUILTINS.train.inputs.algo.enum], [...ALGOS]);
  });

  it('are documented in docs/pipelines.md with their current signatures', () => {
    const doc = readFileSync(new URL('../../docs/pipelines.md', import.meta.url), 'utf8');
    for (const b of BUILTIN_LIST) {
      const spec = (s: { type: string; enum?: readonly string[]; default?: unknown; optional?: boolean }) =>
        `${s.type}${s.enum ? ` (${s.enum.join('\\|')})` : ''}${s.default !== undefined ? ` = ${JSON.stringify(s.default)}` : s.optional ? '?' : ''}`;
      const inputs = Object.entries(b.inputs).map(([k, s]) => `\`${k}\` ${spec(s)}`).join(', ');
      const outputs = Object.entries(b.outputs).map(([k, s]) => `\`${k}\` ${s.type}`).join(', ');
      const row = `| \`${b.name}\` | ${inputs} | ${outputs} | ${b.description} |`;
      assert.ok(doc.includes(row), `docs/pipelines.md lacks the row\n${row}`);
    }
  });
});
