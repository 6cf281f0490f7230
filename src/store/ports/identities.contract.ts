/**
 * The behaviour every {@link IdentityStore} must show: unique principals, grants kept once, tokens
 * kept as salt and hash only, revocation that sticks, and every change in the audit trail.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditLog } from './audit.js';
import type { Grant, IdentityStore } from './identities.js';
import { rejectsCode, useStores, who, type OpenStores } from './test-helpers/contract-helpers.js';

const contributor: Grant = { role: 'contributor', scopeType: 'global', scopeId: '' };
const viewChurn: Grant = { role: 'viewer', scopeType: 'model', scopeId: 'churn' };
const hex = (n: number, c = 'a') => c.repeat(n);

export function describeIdentityStoreContract(name: string, open: OpenStores): void {
  describe(`IdentityStore contract: ${name}`, () => {
    const stores = useStores(open);
    let ids: IdentityStore;
    let audit: AuditLog;
    before(() => {
      ids = stores().identities;
      audit = stores().audit;
    });

    it('creates principals with grants, unique regardless of case, and refuses bad names', async () => {
      const p = await ids.createPrincipal({ name: ' Alice ', kind: 'user', grants: [contributor, viewChurn, contributor] }, who);
      assert.equal(p.name, 'Alice');
      assert.equal(p.kind, 'user');
      assert.equal(p.disabled, false);
      assert.deepEqual(p.grants.map((g) => `${g.role}/${g.scopeType}/${g.scopeId}`).sort(), ['contributor/global/', 'viewer/model/churn']);
      await rejectsCode(ids.createPrincipal({ name: 'alice', kind: 'user' }, who), 'TRELLIS_PRINCIPAL_EXISTS');
      await rejectsCode(ids.createPrincipal({ name: 'bad\u200bname', kind: 'user' }, who), 'TRELLIS_INVALID_PARAMETER');
      await rejectsCode(ids.createPrincipal({ name: 'a:b', kind: 'user' }, who), 'TRELLIS_INVALID_PARAMETER');
      await rejectsCode(ids.createPrincipal({ name: 'x', kind: 'robot' as 'user' }, who), 'TRELLIS_INVALID_PARAMETER');
      await rejectsCode(ids.createPrincipal({ name: 'y', kind: 'user', grants: [{ role: 'root' as 'admin', scopeType: 'global', scopeId: '' }] }, who), 'TRELLIS_INVALID_PARAMETER');
      await rejectsCode(ids.createPrincipal({ name: 'z', kind: 'user', grants: [{ role: 'viewer', scopeType: 'model', scopeId: ' ' }] }, who), 'TRELLIS_INVALID_PARAMETER');
      assert.equal((await ids.findPrincipal('ALICE'))?.name, 'Alice', 'found whatever the case');
      assert.equal(await ids.findPrincipal('nobody-here'), undefined);
      assert.equal(await ids.findPrincipal('x'.repeat(10_000)), undefined);
    });

    it('grants and revokes roles, and knows whether an enabled admin exists', async () => {
      await ids.createPrincipal({ name: 'ops', kind: 'service' }, who);
      assert.equal(await ids.hasAdmin(), false);
      const admin: Grant = { role: 'admin', scopeType: 'global', scopeId: '' };
      let p = await ids.grant('OPS', [admin, viewChurn], who);
      assert.equal(p.grants.length, 2);
      p = await ids.grant('ops', [admin], who);
      assert.equal(p.grants.length, 2, 'a grant already held is kept once');
      assert.equal(await ids.hasAdmin(), true);
      await ids.setPrincipalDisabled('ops', true, who);
      assert.equal(await ids.hasAdmin(), false, 'a disabled admin does not count');
      await ids.setPrincipalDisabled('ops', false, who);
      p = await ids.revokeGrants('ops', [admin], who);
      assert.deepEqual(p.grants.map((g) => g.role), ['viewer']);
      await rejectsCode(ids.revokeGrants('ops', [admin], who), 'TRELLIS_INVALID_PARAMETER');
      await rejectsCode(ids.grant('ghost', [admin], who), 'TRELLIS_PRINCIPAL_NOT_FOUND');
      assert.deepEqual((await ids.listPrincipals()).map((x) => x.name), ['Alice', 'ops']);
    });

    it('keeps tokens as salt and hash, revokes them for good, and audits without the hash', async () => {
      const t = await ids.createToken({ id: 'abcdef123456', principal: 'alice', salt: hex(32), hash: hex(64, 'b'), description: 'ci', expiresAt: 4_000_000_000_000 }, who);
      assert.equal(t.principal, 'Alice');
      assert.equal(t.createdBy, 'alice');
      assert.equal(t.expiresAt, 4_000_000_000_000);
      await assert.rejects(ids.createToken({ id: 'abcdef123456', principal: 'alice', salt: hex(32), hash: hex(64), description: '' }, who), 'ids are unique');
      await rejectsCode(ids.createToken({ id: 'zzzzzz999999', principal: 'ghost', salt: hex(32), hash: hex(64), description: '' }, who), 'TRELLIS_PRINCIPAL_NOT_FOUND');
      await rejectsCode(ids.createToken({ id: 'NOT-AN-ID', principal: 'alice', salt: hex(32), hash: hex(64), description: '' }, who), 'TRELLIS_INVALID_PARAMETER');
      assert.equal((await ids.findToken('abcdef123456'))?.hash, hex(64, 'b'));
      assert.equal(await ids.findToken('nope'), undefined);
      assert.deepEqual((await ids.listTokens('ALICE')).map((x) => x.id), ['abcdef123456']);
      const r = await ids.revokeToken('abcdef123456', { actor: 'bob' });
      assert.equal(r.revokedBy, 'bob');
      assert.ok(r.revokedAt !== undefined);
      const again = await ids.revokeToken('abcdef123456', who);
      assert.equal(again.revokedAt, r.revokedAt, 'revoking twice keeps the first revocation');
      await rejectsCode(ids.revokeToken('unknown00000', who), 'TRELLIS_TOKEN_NOT_FOUND');
      const events = await audit.listAuditEvents({ entityType: 'token' });
      assert.deepEqual(events.map((e) => e.action), ['create_token', 'revoke_token']);
      assert.ok(!JSON.stringify(events).includes(hex(64, 'b')), 'the trail never holds a token hash');
      const principalEvents = await audit.listAuditEvents({ entityType: 'principal' });
      assert.ok(principalEvents.some((e) => e.action === 'grant_roles' && e.entityId === 'ops'));
      assert.ok(principalEvents.every((e) => e.actor === 'alice'));
    });
  });
}
