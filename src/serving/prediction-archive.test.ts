/**
 * The prediction log's history on real stores (SQLite and PostgreSQL, a file: artifact store):
 * archiving moves old entries into Parquet files under predictions/<endpoint>/<yyyy>/<mm>/<dd>/,
 * queries answer the same entries in the same order before and after, labels survive, and a run
 * that stops between writing a file and deleting its rows loses nothing and doubles nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ArtifactData, ArtifactStore } from '../store/artifact-store.js';
import { openArtifactStore, openStores } from '../store/open-stores.js';
import type { LabelledEntry, PredictionEntry, PredictionQuery } from '../store/ports/predictions.js';
import type { Stores } from '../store/stores.js';
import { createTestDatabase } from '../store/test-helpers/postgres.js';
import { decodeArchive, encodeArchive } from './prediction-archive.js';
import { PredictionService } from './prediction-service.js';

const DAY = 86_400_000;
const D1 = Date.UTC(2026, 2, 1);

/** Three days of an endpoint: ties in time, two-row requests, shadows, canary errors; and a day of another. */
function fixture(): PredictionEntry[] {
  const out: PredictionEntry[] = [];
  for (let d = 0; d < 3; d++) {
    for (let i = 0; i < 40; i++) {
      const time = D1 + d * DAY + Math.floor(i / 3) * 60_000; // three requests per minute: equal times
      const requestId = `r${d}-${(97 - i).toString().padStart(3, '0')}`;
      const rows = i % 4 === 0 ? 2 : 1;
      const inputs = Array.from({ length: rows }, (_, k) => ({ age: 20 + i + k, city: k ? 'Lyon' : 'Paris', note: i % 5 ? null : 'a "quoted", text' }));
      if (i % 10 === 9) {
        out.push({ requestId, endpoint: 'churn', time, model: 'churn', version: '2', route: 'canary', shadow: false, latencyMs: 3.25, inputs, error: 'model failed: boom' });
        continue;
      }
      out.push({ requestId, endpoint: 'churn', time, model: 'churn', version: '1', route: 'primary', shadow: false, latencyMs: i / 7, inputs,
        predictions: inputs.map((_, k) => (k ? 'no' : 'yes')), classes: ['no', 'yes'], proba: inputs.map(() => [0.1 + i / 100, 0.9 - i / 100]) });
      if (i % 3 === 0) out.push({ requestId, endpoint: 'churn', time, model: 'churn', version: '3', route: 'shadow', shadow: true, latencyMs: 1e-3, inputs, predictions: inputs.map(() => 'no'), classes: ['no', 'yes'], proba: inputs.map(() => [1, 0]) });
    }
  }
  for (let i = 0; i < 5; i++) out.push({ requestId: `p${i}`, endpoint: 'price', time: D1 + i, model: 'price', version: '1', route: 'primary', shadow: false, latencyMs: 2, inputs: [{ sqft: 80 + i }], predictions: [1000.5 + i] });
  return out;
}

/** Every entry a query pages through, `size` at a time. */
async function all(p: PredictionService, q: Omit<PredictionQuery, 'limit' | 'after'>, size = 7): Promise<LabelledEntry[]> {
  const out: LabelledEntry[] = [];
  let after: PredictionQuery['after'];
  for (;;) {
    const page = await p.query({ ...q, limit: size, ...(after ? { after } : {}) });
    out.push(...page);
    if (page.length < size) return out;
    const last = page[page.length - 1]!;
    after = { time: last.time, requestId: last.requestId, route: last.route };
  }
}

/** Every file under a directory of the artifact store. */
async function walk(store: ArtifactStore, dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const item of await store.list(dir)) out.push(...(item.isDir ? await walk(store, item.path) : [item.path]));
  return out;
}

/** An artifact store whose writes complete and then fail, as a process killed right after the write. */
function crashingAfterPut(store: ArtifactStore): ArtifactStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'put') {
        return async (path: string, data: ArtifactData) => {
          await target.put(path, data);
          throw new Error('killed after the write');
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

function describeArchive(name: string, open: () => Promise<{ uri: string; cleanup: () => Promise<void> }>): void {
  describe(`prediction archive: ${name}`, () => {
    let dir: string;
    let stores: Stores;
    let artifacts: ArtifactStore;
    let predictions: PredictionService;
    let cleanup: () => Promise<void>;
    const windows: Omit<PredictionQuery, 'limit' | 'after'>[] = [
      { endpoint: 'churn' }, { endpoint: 'churn', withLabels: true }, { endpoint: 'churn', route: 'shadow' },
      { endpoint: 'churn', since: D1 + DAY / 2, until: D1 + 2 * DAY + 5 * 60_000 }, { endpoint: 'price' }, { endpoint: 'nobody' }, { endpoint: '../price' },
    ];
    const snapshot = async () => Promise.all(windows.map((q) => all(predictions, q)));

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'trellis-archive-'));
      const db = await open();
      cleanup = db.cleanup;
      stores = await openStores(db.uri.replace('<dir>', dir));
      artifacts = await openArtifactStore(`file:${join(dir, 'artifacts')}`);
      predictions = new PredictionService(stores.predictions, { artifacts });
      await predictions.append(fixture());
      for (let d = 0; d < 3; d++) {
        await predictions.feedback('churn', `r${d}-097`, ['yes', 'no']);
        await predictions.feedback('churn', `r${d}-090`, 'no');
      }
    });
    after(async () => {
      await stores?.close();
      await artifacts?.close();
      await cleanup?.();
      rmSync(dir, { recursive: true, force: true });
    });

    it('round-trips every field of an entry through the Parquet columns', async () => {
      const entries = await all(predictions, { endpoint: 'churn' });
      assert.deepEqual(await decodeArchive(encodeArchive(entries), 'x.parquet'), entries);
    });

    it('keeps entries and labels through a run that stops after writing a file, with nothing counted twice', async () => {
      const before = await snapshot();
      assert.equal(before[0]!.length, 3 * 52);
      assert.equal(before[1]!.length, 6 + 3); // the shadows of r*-097 share their labels
      const crashing = new PredictionService(stores.predictions, { artifacts: crashingAfterPut(artifacts) });
      await assert.rejects(crashing.archive({ olderThan: D1 + DAY }), /killed after the write/);
      assert.equal((await walk(artifacts, 'predictions')).length, 1);
      assert.equal((await stores.predictions.query({ endpoint: 'churn', until: D1 + DAY })).length, 52, 'the rows stay until their file is checked');
      assert.deepEqual(await snapshot(), before);
      // Feedback given before the run resumes wins over the labels in the file written before it.
      await predictions.feedback('churn', 'r0-090', 'yes');
      const relabelled = before.map((list) => list.map((e) => (e.requestId === 'r0-090' ? { ...e, labels: ['yes'] } : e)));
      assert.deepEqual(await snapshot(), relabelled);
      const moved = await predictions.archive({ olderThan: D1 + DAY });
      assert.deepEqual(moved.map((m) => [m.endpoint, m.day, m.entries, m.removed]), [['churn', '2026-03-01', 52, 52], ['price', '2026-03-01', 5, 5]]);
      assert.deepEqual(await snapshot(), relabelled);
    });

    it('moves old entries into one file per endpoint and day, and answers the same pages afterwards', async () => {
      const before = await snapshot();
      const moved = await predictions.archive({ olderThan: D1 + 2 * DAY + 60_000, endpoint: 'churn' });
      assert.deepEqual(moved.map((m) => [m.day, m.entries, m.removed]), [['2026-03-02', 52, 52], ['2026-03-03', 4, 4]]);
      for (const m of moved) assert.match(m.path, new RegExp(`^predictions/churn/${m.day.replace(/-/g, '/')}/\\d{13}-\\d{13}-[0-9a-f]{8}\\.parquet$`));
      const files = await walk(artifacts, 'predictions');
      assert.equal(files.length, 5); // the stopped run's file, its retry, price, and two new days
      assert.deepEqual(files.filter((f) => f.startsWith('predictions/price/')).length, 1);
      assert.deepEqual((await stores.predictions.query({ endpoint: 'churn' })).map((e) => e.time >= D1 + 2 * DAY + 60_000), Array(48).fill(true));
      assert.deepEqual(await snapshot(), before);
      // The file holds every field, the labels of its day included.
      const day2 = await decodeArchive(await artifacts.get(moved[0]!.path), moved[0]!.path);
      assert.deepEqual(day2, before[0]!.filter((e) => e.time >= D1 + DAY && e.time < D1 + 2 * DAY));
      assert.deepEqual(day2.find((e) => e.requestId === 'r1-097' && e.route === 'primary')!.labels, ['yes', 'no']);
      assert.deepEqual(await predictions.archive({ olderThan: D1 + 2 * DAY + 60_000 }), []);
      // An archived request takes no new labels: it is no longer in the table.
      await assert.rejects(predictions.feedback('churn', 'r1-090', 'yes'), (e: Error & { code?: string }) => e.code === 'TRELLIS_PREDICTION_NOT_FOUND');
    });

    it('archives everything, reads it back in large and small pages, and refuses a cutoff that is not a time', async () => {
      const before = await snapshot();
      await predictions.archive({ olderThan: D1 + 10 * DAY });
      assert.deepEqual(await stores.predictions.query({ endpoint: 'churn' }), []);
      assert.deepEqual(await snapshot(), before);
      assert.deepEqual(await all(predictions, { endpoint: 'churn' }, 10_000), before[0]);
      assert.deepEqual(await all(predictions, { endpoint: 'churn' }, 1), before[0]);
      assert.throws(() => predictions.archive({ olderThan: Number.NaN }), /'olderThan' must be a time/);
    });
  });
}

describeArchive('sqlite', async () => ({ uri: 'sqlite:<dir>/t.db', cleanup: async () => undefined }));
describeArchive('postgres', async () => {
  const db = await createTestDatabase('trellis_archive');
  return { uri: db.uri, cleanup: db.drop };
});
