/**
 * The step folders of workers killed outright: each folder names the worker process that made it,
 * and a worker starting removes those whose process is gone, leaving those of live processes, of
 * other hosts and those it cannot attribute.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createWorkRoot, sweepDeadWorkRoots } from './redis-queue.js';

describe('step folders of killed workers', () => {
  let parent: string;
  before(() => { parent = mkdtempSync(join(tmpdir(), 'trellis-sweep-')); });
  after(() => rmSync(parent, { recursive: true, force: true }));

  it('names its owner, and is removed once that process is gone, only then', async () => {
    // A process that has exited: its pid is free (the kernel hands pids out in turn, so not again soon).
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const deadPid = Number(gone.stdout);
    assert.ok(deadPid > 0);
    const owned = (pid: number, host = hostname()) => {
      const dir = mkdtempSync(join(parent, 'trellis-worker-'));
      mkdirSync(join(dir, 'runs', 'r1'), { recursive: true });
      writeFileSync(join(dir, 'runs', 'r1', 'data.csv'), 'a\n1\n');
      writeFileSync(join(dir, '.trellis-owner'), `${host} ${pid}`);
      return dir;
    };
    const mine = await createWorkRoot(parent);
    assert.equal(readFileSync(join(mine, '.trellis-owner'), 'utf8'), `${hostname()} ${process.pid}`);
    const dead = owned(deadPid);
    const live = owned(process.ppid);
    const elsewhere = owned(deadPid, `not-${hostname()}`);
    const unowned = mkdtempSync(join(parent, 'trellis-worker-'));
    const unrelated = owned(deadPid);
    const renamed = join(parent, `other-${basename(unrelated)}`);
    spawnSync('mv', [unrelated, renamed]);

    assert.deepEqual(await sweepDeadWorkRoots(parent), [basename(dead)]);
    assert.equal(existsSync(dead), false);
    for (const d of [mine, live, elsewhere, unowned, renamed]) assert.equal(existsSync(d), true, `${d} is left alone`);
    assert.deepEqual(await sweepDeadWorkRoots(join(parent, 'missing')), [], 'a parent that does not exist is no error');
  });
});
