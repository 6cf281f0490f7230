/**
 * Page tokens: the `next_page_token` of a search, signed so that a client can pass one back but
 * cannot make one up. A token is `<payload>.<tag>`: the payload is base64url JSON (`{"offset":n}`),
 * the tag the first 16 bytes of an HMAC-SHA256 of the payload under the server's page-token key,
 * base64url. A token whose tag does not match is refused with TRELLIS_PAGE_TOKEN_INVALID (400),
 * before its payload is read.
 *
 * The key. Tokens live for the few seconds between two pages of one listing, so the key need not
 * outlive the process, and keeping it out of the database means nothing a client can reach through
 * the store (rows, exports, backups handed around) reveals it:
 *  - by default a random 32-byte key is made once per process, on first use; a token from another
 *    process, or from before a restart, is refused with a message that says to start the listing
 *    again;
 *  - `TRELLIS_PAGE_TOKEN_KEY` (a random secret of at least 32 characters, e.g. the output of
 *    `openssl rand -base64 32`) replaces it. Several servers behind one load balancer must share it,
 *    since the next page may be asked of another server; it also keeps tokens valid across restarts.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { TrellisError, invalid } from '../../core/errors.js';
import { LIMITS, excerpt } from '../limits.js';

/** Bytes of the HMAC-SHA256 kept in a token: 128 bits, far beyond guessing through an API. */
const TAG_BYTES = 16;
/** Tokens are short; a longer one was not issued here. */
const MAX_TOKEN_LENGTH = 200;
const TOKEN_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** Bound into every tag, so that the key signs nothing else that could be mistaken for a page token. */
const DOMAIN = 'trellis page token v1.';
export const MIN_PAGE_TOKEN_KEY_LENGTH = 32;

export class PageTokens {
  private readonly key: Buffer;

  constructor(key: Uint8Array) {
    if (key.length < MIN_PAGE_TOKEN_KEY_LENGTH) throw new Error(`a page-token key has at least ${MIN_PAGE_TOKEN_KEY_LENGTH} bytes`);
    this.key = Buffer.from(key);
  }

  encode(offset: number): string {
    const payload = Buffer.from(JSON.stringify({ offset })).toString('base64url');
    return `${payload}.${this.tag(payload).toString('base64url')}`;
  }

  /** The offset a token carries; 0 for no token. Refuses a token this key did not sign. */
  decode(token: string | undefined): number {
    if (token === undefined || token === '') return 0;
    const bad = (detail: string) => new TrellisError('TRELLIS_PAGE_TOKEN_INVALID', { detail: `parameter 'page_token' ${detail}` });
    if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH || !TOKEN_SHAPE.test(token)) {
      throw bad(`(${excerpt(String(token), 40)}) is not a token this server issued`);
    }
    const dot = token.indexOf('.');
    const payload = token.slice(0, dot);
    // The tag is compared as text: base64url has several spellings of the same bytes (the last
    // character's low bits are ignored), and only the one this server wrote is its token.
    const tag = Buffer.from(token.slice(dot + 1), 'utf8');
    const expected = Buffer.from(this.tag(payload).toString('base64url'), 'utf8');
    if (tag.length !== expected.length || !timingSafeEqual(tag, expected)) {
      throw bad(
        `(${excerpt(token, 40)}) was not signed by this server: it was altered, or it comes from another server or from before ` +
        'the server restarted; start the listing again from the first page (servers behind one load balancer must share TRELLIS_PAGE_TOKEN_KEY)',
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      throw bad(`(${excerpt(token, 40)}) is not a token this server issued`);
    }
    const offset = (parsed as { offset?: unknown } | null)?.offset;
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0 || offset > LIMITS.pageOffset) {
      throw bad(`(${excerpt(token, 40)}) has no valid offset: expected a whole number from 0 to ${LIMITS.pageOffset}`);
    }
    return offset;
  }

  private tag(payload: string): Buffer {
    return createHmac('sha256', this.key).update(DOMAIN).update(payload).digest().subarray(0, TAG_BYTES);
  }
}

/** The key `TRELLIS_PAGE_TOKEN_KEY` gives, or `undefined` when it is not set; a short one is refused. */
export function pageTokenKeyFromEnv(env: NodeJS.ProcessEnv = process.env): Buffer | undefined {
  const given = env.TRELLIS_PAGE_TOKEN_KEY;
  if (given === undefined || given === '') return undefined;
  if (given.length < MIN_PAGE_TOKEN_KEY_LENGTH) {
    throw invalid(`TRELLIS_PAGE_TOKEN_KEY is ${given.length} characters long; use a random secret of at least ${MIN_PAGE_TOKEN_KEY_LENGTH} (e.g. \`openssl rand -base64 32\`), the same on every server behind one load balancer`);
  }
  return Buffer.from(given, 'utf8');
}

let processTokens: PageTokens | undefined;

/**
 * This process's page tokens: under `TRELLIS_PAGE_TOKEN_KEY` when set, else under a random key
 * made on first use. The SQL stores call it when they open, so that a bad key stops the start.
 */
export function pageTokens(): PageTokens {
  processTokens ??= new PageTokens(pageTokenKeyFromEnv() ?? randomBytes(32));
  return processTokens;
}
