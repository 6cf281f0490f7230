/**
 * What every port's contract suite shares: the fixture that opens a fresh, empty set of stores
 * for a suite (each suite gets its own database), the actor, and the error-code assertion.
 */
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { isTrellisError } from '../../../core/errors.js';
import type { Stores } from '../../stores.js';

/** Opens fresh, empty stores; `cleanup` removes what `close` leaves behind (a file, a database). */
export type OpenStores = () => Promise<{ stores: Stores; cleanup?: () => Promise<void> }>;

export const who = { actor: 'alice' };

export async function rejectsCode(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isTrellisError(e), `expected a TrellisError ${code}, got ${String(e)}`);
    assert.equal(e.code, code);
    return true;
  });
}

/** Opens the stores before the suite's tests and closes them after; call the getter inside hooks and tests. */
export function useStores(open: OpenStores): () => Stores {
  let fixture: Awaited<ReturnType<OpenStores>> | undefined;
  before(async () => {
    fixture = await open();
  });
  after(async () => {
    await fixture?.stores.close();
    await fixture?.cleanup?.();
  });
  return () => {
    if (!fixture) throw new Error('the stores are opened in a before() hook: read them inside hooks and tests');
    return fixture.stores;
  };
}
