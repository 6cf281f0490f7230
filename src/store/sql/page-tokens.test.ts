/**
 * Signed page tokens: what the server signed comes back as its offset; an altered token, an
 * unsigned one, or one signed under another key is refused, on the SQL stores as on their own.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { isTrellisError } from '../../core/errors.js';
import { PageTokens, pageTokenKeyFromEnv, pageTokens } from './page-tokens.js';

const refused = (f: () => unknown, why: RegExp) =>
  assert.throws(f, (e: unknown) => {
    assert.ok(isTrellisError(e, 'TRELLIS_PAGE_TOKEN_INVALID'), String(e));
    assert.equal(e.httpStatus, 400);
    assert.equal(e.mlflowCode, 'INVALID_PARAMETER_VALUE');
    assert.match(e.message, /parameter 'page_token'/);
    assert.match(e.message, why);
    return true;
  });

describe('page tokens', () => {
  const tokens = new PageTokens(randomBytes(32));

  it('give back the offset they were made for; no token is offset 0', () => {
    for (const offset of [0, 1, 2, 1000, 999_999_999]) assert.equal(tokens.decode(tokens.encode(offset)), offset);
    assert.equal(tokens.decode(undefined), 0);
    assert.equal(tokens.decode(''), 0);
    assert.match(tokens.encode(5), /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/, 'URL-safe, with a 16-byte tag');
  });

  it('refuse a token whose offset was changed, re-encoded without a signature, or signed under another key', () => {
    const t = tokens.encode(2);
    const [, tag] = t.split('.') as [string, string];
    const json = JSON.stringify({ offset: 2 });
    // The same JSON, unsigned, as tokens were before they were signed.
    refused(() => tokens.decode(Buffer.from(json).toString('base64')), /not a token this server issued/);
    refused(() => tokens.decode(Buffer.from(json).toString('base64url')), /not a token this server issued/);
    // Another offset under the tag of the first.
    const moved = `${Buffer.from(JSON.stringify({ offset: 500 })).toString('base64url')}.${tag}`;
    refused(() => tokens.decode(moved), /not signed by this server/);
    // The same payload with a tag cut short, flipped, or missing.
    refused(() => tokens.decode(t.slice(0, -2)), /not signed by this server/);
    // Every other last character, including those that decode to the same bytes (base64url ignores its low bits).
    for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_') {
      if (!t.endsWith(c)) refused(() => tokens.decode(`${t.slice(0, -1)}${c}`), /not signed by this server/);
    }
    refused(() => tokens.decode(`${t.split('.')[0]!}.`), /not a token this server issued/);
    // A token from another server (or this one before a restart): a clear way forward.
    const other = new PageTokens(randomBytes(32)).encode(2);
    refused(() => tokens.decode(other), /another server or from before the server restarted; start the listing again/);
    refused(() => tokens.decode('garbage!'), /not a token this server issued/);
    refused(() => tokens.decode('x'.repeat(300)), /not a token this server issued/);
  });

  it('still check the offset of a signed token', () => {
    refused(() => tokens.decode(tokens.encode(-1)), /no valid offset/);
    refused(() => tokens.decode(tokens.encode(1.5)), /no valid offset/);
  });

  it('share one key across servers through TRELLIS_PAGE_TOKEN_KEY, and refuse a short one', () => {
    const env = { TRELLIS_PAGE_TOKEN_KEY: 'k'.repeat(16) + randomBytes(24).toString('base64') };
    const a = new PageTokens(pageTokenKeyFromEnv(env)!);
    const b = new PageTokens(pageTokenKeyFromEnv(env)!);
    assert.equal(b.decode(a.encode(40)), 40);
    assert.equal(pageTokenKeyFromEnv({}), undefined);
    assert.throws(() => pageTokenKeyFromEnv({ TRELLIS_PAGE_TOKEN_KEY: 'short-secret' }),
      (e: unknown) => isTrellisError(e, 'TRELLIS_INVALID_PARAMETER') && /at least 32/.test(e.message) && !e.message.includes('short-secret'));
  });

  it("keep one key per process", () => {
    assert.equal(pageTokens(), pageTokens());
    assert.equal(pageTokens().decode(pageTokens().encode(7)), 7);
  });
});
