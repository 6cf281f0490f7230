import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { componentError, userFrame } from './user-error.js';

const EXECUTORS = fileURLToPath(new URL('.', import.meta.url));

describe('userFrame', () => {
  const stack = [
    'Error: boom',
    '    at ModuleLoader.importSyncForRequire (node:internal/modules/esm/loader:376:13)',
    `    at run (${EXECUTORS}step-runner.ts:70:11)`,
    '    at helper (/home/u/proj/node_modules/lib/index.js:3:9)',
    '    at fit (file:///home/u/proj/src/model%20utils.ts:12:5)',
    '    at async Promise.all (index 0)',
    '    at train (/home/u/proj/src/train.ts:40:7)',
    '    at [worker eval]:1:175',
  ].join('\n');

  it("prefers the component's own file", () => {
    assert.equal(userFrame(stack, '/home/u/proj/src/train.ts'), '/home/u/proj/src/train.ts:40:7');
  });

  it('else takes the first frame in a file outside Node, node_modules and the executors (file: URLs decoded)', () => {
    assert.equal(userFrame(stack, '/elsewhere.ts'), '/home/u/proj/src/model utils.ts:12:5');
    assert.equal(userFrame('Error: x\n    at node:internal/process/task_queues:95:5'), undefined);
    assert.equal(userFrame(undefined), undefined);
  });

  it('turns a retryable report into TRELLIS_STEP_TRANSIENT and a plain one into TRELLIS_STEP_FAILED', () => {
    const plain = componentError('s', { name: 'TypeError', message: 'x is undefined', stack, retryable: false }, 'run', '/home/u/proj/src/train.ts');
    assert.equal(plain.code, 'TRELLIS_STEP_FAILED');
    assert.equal(plain.message, "Step 's' failed: TypeError: x is undefined (at /home/u/proj/src/train.ts:40:7)");
    assert.equal((plain.cause as Error).stack, stack);
    const transient = componentError('s', { name: 'RetryableError', message: 'busy', retryable: true }, 'run');
    assert.equal(transient.code, 'TRELLIS_STEP_TRANSIENT');
    assert.equal(transient.retryable, true);
    // A module that fails to load is never retried.
    assert.equal(componentError('s', { name: 'RetryableError', message: 'busy', retryable: true }, 'load', '/m.ts').code, 'TRELLIS_STEP_FAILED');
  });
});
