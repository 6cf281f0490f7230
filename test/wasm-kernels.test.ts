import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { KERNELS, assemble, outputPath } from '../scripts/build-wasm.js';
import { predictWat, WAT_PATH } from '../scripts/gen-predict-wat.js';

const root = fileURLToPath(new URL('../', import.meta.url));

describe('WebAssembly kernels', () => {
  it('predict.wat is what its generator writes (npx tsx scripts/gen-predict-wat.ts)', () => {
    assert.equal(readFileSync(WAT_PATH, 'utf8'), predictWat(), 'run: npx tsx scripts/gen-predict-wat.ts && npx tsx scripts/build-wasm.ts');
  });

  it('the committed modules are assembled from their .wat sources (npx tsx scripts/build-wasm.ts)', async () => {
    for (const k of KERNELS) {
      assert.equal(readFileSync(`${root}${outputPath(k)}`, 'utf8'), await assemble(`${root}${k}`), `${outputPath(k)} is stale`);
    }
  });
});
