import { randomBytes, randomUUID } from 'node:crypto';

/** A run id: 32 lowercase hex characters (a uuid4 without dashes), as MLflow clients expect. */
export function newRunId(): string {
  return randomUUID().replace(/-/g, '');
}

const ADJECTIVES = ['amber', 'brave', 'calm', 'daring', 'eager', 'fancy', 'gentle', 'happy', 'icy', 'jolly',
  'keen', 'lively', 'mellow', 'nimble', 'omniscient', 'proud', 'quiet', 'rare', 'swift', 'tidy', 'upbeat',
  'vivid', 'witty', 'young', 'zesty'];
const NOUNS = ['ant', 'bat', 'crane', 'doe', 'eel', 'finch', 'gnu', 'hare', 'ibis', 'jay', 'koi', 'lynx', 'mole',
  'newt', 'owl', 'puma', 'quail', 'ram', 'seal', 'toad', 'urchin', 'vole', 'wren', 'yak', 'zebu'];

/** A readable random run name such as `swift-owl-417`. */
export function randomRunName(): string {
  const b = randomBytes(4);
  return `${ADJECTIVES[b[0]! % ADJECTIVES.length]}-${NOUNS[b[1]! % NOUNS.length]}-${b.readUInt16BE(2) % 1000}`;
}

/**
 * A request id: a UUID version 7 (RFC 9562), the time in milliseconds in its first 48 bits and 74
 * random bits after. Ids made one after another sort in time order, so a log keyed by them grows
 * at the end of its index instead of touching a random page per row.
 */
export function newRequestId(now = Date.now()): string {
  const random = randomUUID(); // xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx: keep from the fourth group's version digit on
  const t = now.toString(16).padStart(12, '0');
  return `${t.slice(0, 8)}-${t.slice(8, 12)}-7${random.slice(15)}`;
}
