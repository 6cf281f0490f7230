import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { PipelineRunResult } from '../pipelines/engine/index.js';
import { RunProgress, runSummary, statusLine } from './progress.js';

/** A stream that records what is written, with the terminal facts a test gives it. */
function fakeStream(o: { isTTY?: boolean; columns?: number; rows?: number } = {}) {
  const chunks: string[] = [];
  return { chunks, text: () => chunks.join(''), write: (s: string) => { chunks.push(s); return true; }, ...o };
}

/** A clock the test moves by hand. */
function clock(start = 1000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => { t += ms; } };
}

const ESC = '\x1b[';
/** What one redraw writes: back up over the previous block (if any), then each line cleared and written. */
const frame = (up: number, lines: string[], clearBelow = false) =>
  `${up ? `${ESC}${up}A` : ''}${lines.map((l) => `\r${ESC}2K${l}\n`).join('')}${clearBelow ? `${ESC}J` : ''}`;

describe('RunProgress', () => {
  it('off a terminal, writes one line per event, as CI logs read', () => {
    const out = fakeStream({ isTTY: false });
    const p = new RunProgress(out, { steps: ['ingest', 'train', 'gate'] });
    assert.equal(p.live, false);
    p.onEvent({ step: 'ingest', status: 'running' });
    p.onEvent({ step: 'ingest', status: 'cached' });
    p.onEvent({ step: 'train', status: 'running' });
    p.onEvent({ step: 'train', status: 'done', durationMs: 1234 });
    p.onEvent({ step: 'gate', status: 'failed', durationMs: 50, error: "Step 'gate' failed: boom" });
    p.stop();
    assert.equal(out.text(), [
      '▸ ingest … running', '▸ ingest … cached', '▸ train … running', '▸ train … done in 1.2 s',
      "▸ gate … FAILED after 0.1 s: Step 'gate' failed: boom", '',
    ].join('\n'));
  });

  it('on a terminal, redraws a block of one line per step in place, with running times', () => {
    const out = fakeStream({ isTTY: true, columns: 80 });
    const c = clock();
    const p = new RunProgress(out, { steps: ['ingest', 'train', 'register'], live: true, refreshMs: 0, now: c.now });
    assert.equal(p.live, true);
    assert.deepEqual(out.chunks, [], 'nothing is drawn before the first event');
    const refused = fakeStream({ isTTY: true });
    new RunProgress(refused, { steps: ['a'], live: true, refreshMs: 0 }).stop();
    assert.deepEqual(refused.chunks, [], 'nor by stop() for a run that never started');
    p.onEvent({ step: 'ingest', status: 'running' });
    // The whole block at the first event, the steps not started pending.
    assert.deepEqual(out.chunks, [frame(0, ['▸ ingest    running 0.0 s', '· train     pending', '· register  pending'])]);
    p.onEvent({ step: 'ingest', status: 'cached' });
    p.onEvent({ step: 'train', status: 'running' });
    c.advance(2500);
    assert.deepEqual(p.render(), ['✔ ingest    cached', '▸ train     running 2.5 s', '· register  pending']);
    p.onEvent({ step: 'train', status: 'done', durationMs: 2600 });
    p.onEvent({ step: 'register', status: 'skipped' });
    p.stop();
    const last = frame(3, ['✔ ingest    cached', '✔ train     done in 2.6 s', '- register  skipped']);
    assert.equal(out.chunks.length, 5 + 1);
    assert.equal(out.chunks[1], frame(3, ['✔ ingest    cached', '· train     pending', '· register  pending']));
    assert.equal(out.chunks[2], frame(3, ['✔ ingest    cached', '▸ train     running 0.0 s', '· register  pending']));
    assert.equal(out.chunks.at(-1), last);
    assert.equal(out.chunks.at(-2), last, 'stop() draws the final state once more, and nothing after');
    p.onEvent({ step: 'train', status: 'running' });
    assert.equal(out.chunks.length, 6);
  });

  it('adds steps it was not told of as their events come (resume), moving up over the block as drawn', () => {
    const out = fakeStream({ isTTY: true });
    const p = new RunProgress(out, { live: true, refreshMs: 0, now: () => 0 });
    assert.deepEqual(out.chunks, [], 'nothing to draw before the first event');
    p.onEvent({ step: 'a', status: 'kept' });
    p.onEvent({ step: 'bb', status: 'running' });
    p.onEvent({ step: 'bb', status: 'failed', durationMs: 300, error: 'exit code 3\nlast lines of stderr' });
    assert.deepEqual(out.chunks, [
      frame(0, ['✔ a  kept (finished earlier)']),
      frame(1, ['✔ a   kept (finished earlier)', '▸ bb  running 0.0 s']),
      frame(2, ['✔ a   kept (finished earlier)', '✖ bb  FAILED after 0.3 s: exit code 3']),
    ]);
  });

  it('cuts lines to the terminal width, so that none wraps and breaks the redraw', () => {
    const out = fakeStream({ isTTY: true, columns: 30 });
    const p = new RunProgress(out, { live: true, refreshMs: 0 });
    p.onEvent({ step: 'train', status: 'failed', durationMs: 0, error: 'a very long message that goes on and on' });
    assert.deepEqual(p.render(), ['✖ train  FAILED after 0.0 s:…']);
    assert.equal(p.render()[0]!.length, 29);
  });

  it('condenses a block taller than the terminal to counts and the active steps, clearing what is left below', () => {
    const out = fakeStream({ isTTY: true, rows: 7 });
    const steps = Array.from({ length: 5 }, (_, i) => `s${i}`);
    const p = new RunProgress(out, { steps, live: true, refreshMs: 0, now: () => 0 });
    p.onEvent({ step: 's0', status: 'running' });
    assert.equal(out.chunks[0], frame(0, ['▸ s0  running 0.0 s', '· s1  pending', '· s2  pending', '· s3  pending', '· s4  pending']));
    const more = new RunProgress(fakeStream({ isTTY: true, rows: 7 }), { steps: [...steps, 's5'], live: true, refreshMs: 0, now: () => 0 });
    more.onEvent({ step: 's0', status: 'done', durationMs: 100 });
    more.onEvent({ step: 's1', status: 'cached' });
    more.onEvent({ step: 's2', status: 'running' });
    more.onEvent({ step: 's3', status: 'failed', durationMs: 0, error: 'boom' });
    assert.deepEqual(more.render(), ['6 steps: 1 done, 1 cached, 1 running, 1 failed, 2 pending', '▸ s2  running 0.0 s', '✖ s3  FAILED after 0.0 s: boom']);
    // Growing past the terminal: the shorter, condensed block clears the rows the longer one used.
    p.onEvent({ step: 'extra', status: 'running' });
    assert.equal(out.chunks.at(-1), frame(5, ['6 steps: 2 running, 4 pending', '▸ s0     running 0.0 s', '▸ extra  running 0.0 s'], true));
  });

  it('redraws on a timer while a step runs, and stops the timer with stop()', async () => {
    const out = fakeStream({ isTTY: true });
    const p = new RunProgress(out, { steps: ['a'], live: true, refreshMs: 5 });
    p.onEvent({ step: 'a', status: 'running' });
    const before = out.chunks.length;
    while (out.chunks.length === before) await new Promise((r) => setTimeout(r, 5));
    p.stop();
    const after = out.chunks.length;
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(out.chunks.length, after);
  });

  it('is live on a terminal unless TERM is dumb, and never off one', () => {
    const term = process.env.TERM;
    try {
      process.env.TERM = 'xterm-256color';
      assert.equal(new RunProgress(fakeStream({ isTTY: true }), { refreshMs: 0 }).live, true);
      assert.equal(new RunProgress(fakeStream({}), { refreshMs: 0 }).live, false);
      process.env.TERM = 'dumb';
      assert.equal(new RunProgress(fakeStream({ isTTY: true }), { refreshMs: 0 }).live, false);
    } finally {
      if (term === undefined) delete process.env.TERM;
      else process.env.TERM = term;
    }
  });

  it('statusLine words each status', () => {
    assert.equal(statusLine({ step: 'x', status: 'kept' }), '▸ x … kept (finished earlier)');
    assert.equal(statusLine({ step: 'x', status: 'skipped' }), '▸ x … skipped');
  });
});

describe('runSummary', () => {
  const sha = (c: string) => c.repeat(64);
  const r: PipelineRunResult = {
    runId: 'r1', experimentId: '1', pipeline: 'bike', status: 'FINISHED', durationMs: 2345,
    steps: [
      { step: 'train', status: 'done', runId: 'run-train', cached: false, durationMs: 2000, metrics: {}, outputs: { model: { type: 'Model', sha256: sha('a'), run: 'run-train', name: 'model', kind: 'dir' } } },
      { step: 'evaluate', status: 'cached', runId: 'run-eval', cached: true, durationMs: 3, metrics: {}, outputs: { metrics: { type: 'Metrics', sha256: sha('b'), run: 'old', name: 'metrics', kind: 'file' } } },
      { step: 'register', status: 'skipped', cached: false, durationMs: 0, metrics: {}, outputs: {} },
    ],
    registered: [{ step: 'register', name: 'bike', version: '3', alias: 'champion', created: false }],
  };

  it('gives status, total time, a row per step with the cached column, outputs with short hashes, registered versions', () => {
    assert.equal(runSummary(r), [
      'pipeline bike, run r1: FINISHED in 2.3 s (3 steps, 1 from cache)',
      'STEP      STATUS   DURATION  CACHED  RUN',
      'train     done     2.0 s     no      run-train',
      'evaluate  cached   0.0 s     yes     run-eval',
      'register  skipped            no',
      '',
      'OUTPUT            TYPE     SHA256',
      'train.model       Model    aaaaaaaaaaaa',
      'evaluate.metrics  Metrics  bbbbbbbbbbbb',
      '',
      'registered bike version 3 @champion (existing version)',
      '',
    ].join('\n'));
    assert.doesNotMatch(runSummary(r, { outputs: false }), /OUTPUT/);
  });
});
