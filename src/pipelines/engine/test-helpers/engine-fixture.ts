/** Stores and services on a temporary folder, and a small slice of the bike-sharing data, for the engine tests. */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dataset } from '../../../data/readers/test-helpers/data-files.js';
import { openArtifactStore, openStores } from '../../../store/open-stores.js';
import type { Stores } from '../../../store/stores.js';
import type { EngineServices } from '../engine.js';
import { engineServicesOver } from '../services.js';

export const BIKE = dataset('bike_sharing_hourly.csv');
export const BIKE_YAML = fileURLToPath(new URL('../../../../examples/pipelines/bike.pipeline.yaml', import.meta.url));

/** The first `rows` rows of the hourly bike data (a quick, real training set). */
export function bikeSlice(dir: string, rows = 2000): string {
  const lines = readFileSync(BIKE, 'utf8').split('\n').slice(0, rows + 1);
  const path = join(dir, `bike_${rows}.csv`);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

/**
 * The engine's services on a temporary folder, with the `stores` under them for the tests to look
 * at. `artifactsDir`: an existing artifact folder (a fixture's copy) instead of a new one under `dir`.
 */
export async function openTestServices(storeUri?: string, o: { artifactsDir?: string } = {}): Promise<EngineServices & { stores: Stores; dir: string; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-engine-'));
  // As root, a deployed pipeline's code runs as nobody: it must reach the packages and files here.
  chmodSync(dir, 0o1777);
  const stores = await openStores(storeUri ?? `sqlite:${join(dir, 't.db')}`);
  const artifacts = await openArtifactStore(`file:${o.artifactsDir ?? join(dir, 'artifacts')}`);
  return {
    ...engineServicesOver(stores, artifacts), stores, dir,
    async close() {
      await stores.close();
      await artifacts.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
