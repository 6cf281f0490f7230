/**
 * The one place an artifact path is judged safe. Every route and every adapter sends user-supplied
 * paths through {@link normalizeArtifactPath} before they touch storage, and joins them to a root
 * with {@link resolveInside}; having two resolvers would mean two sets of rules that drift apart,
 * and the gap between them is where traversal bugs live.
 *
 * The rules are deliberately stricter than a filesystem needs: a path that *could* be read two ways
 * (by a proxy that decodes twice, by Windows, by a URL parser that sees a `;`, `?` or `#`) is refused
 * rather than interpreted, because the reader that disagrees with us is the one an attacker picks.
 */
import path from 'node:path';
import { isTrellisError, TrellisError } from '../core/errors.js';

export interface NormalizeOptions {
  /** Accept '' (and paths that reduce to it, like `./`) as the store root, e.g. for `list('')`. */
  allowEmpty?: boolean;
}

/** Linux refuses longer file names with ENAMETOOLONG; refusing them here keeps that a 400, not a 500. */
const MAX_SEGMENT_BYTES = 255;
/** Far above real artifact paths, far below PATH_MAX once the store root is prepended. */
const MAX_PATH_BYTES = 2048;
/** Error messages and logs show at most this much of a hostile path. */
const MAX_SHOWN_CHARS = 200;

// Unicode-aware on purpose: C1 controls (U+0080–U+009F) are as invisible in a log line as C0 ones.
const CONTROL_RE = /[\u0001-\u001f\u007f-\u009f]/;
const LONE_SURROGATE_RE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const WINDOWS_DRIVE_RE = /^[A-Za-z]:/;
const SCHEME_RE = /^[A-Za-z][A-Za-z0-9+.-]*:/;
/** Escapes that, decoded a second time by some other layer, would become `.`, `/`, `\` or NUL. */
const DANGEROUS_ESCAPE_RE = /%(2e|2f|5c|00)/i;

/**
 * Turns a user-supplied relative path (still percent-encoded, as it arrives in a URL) into the
 * canonical form storage uses: decoded exactly once, `/`-separated, without empty or `.` segments
 * and without leading or trailing slashes. Throws TRELLIS_PATH_UNSAFE, whose `detail` names the
 * rule, for anything that could leave the store or mean different things to different readers.
 *
 * The result never contains `%`. That makes the function idempotent — normalizing an already
 * normalized path returns it unchanged — which matters because a route normalizes and the adapter
 * it calls normalizes again: were a `%` allowed through, the second pass would decode it again and
 * the two layers would be talking about different files.
 */
export function normalizeArtifactPath(raw: string, opts: NormalizeOptions = {}): string {
  if (typeof raw !== 'string') throw unsafe(String(raw), 'the path is not a string');

  // Checked before decoding too, so the message names the rule the caller actually broke
  // (`a\b` is "a backslash", not whatever the decoder makes of it).
  checkStructure(raw, raw);

  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    throw unsafe(raw, 'malformed percent-encoding (a % must be followed by two hex digits of valid UTF-8)');
  }

  if (DANGEROUS_ESCAPE_RE.test(decoded)) {
    throw unsafe(raw, 'still percent-encoded after one decode (double encoding is refused)');
  }
  if (decoded.includes('%')) {
    throw unsafe(raw, "contains '%' after decoding; a second decode would read it differently");
  }
  checkStructure(raw, decoded);

  const segments = decoded.split('/').filter((s) => s !== '' && s !== '.');
  const canonical = segments.join('/');
  if (canonical === '') {
    if (opts.allowEmpty) return '';
    throw unsafe(raw, 'the path is empty');
  }
  for (const s of segments) {
    if (Buffer.byteLength(s, 'utf8') > MAX_SEGMENT_BYTES) {
      throw unsafe(raw, `a segment is longer than ${MAX_SEGMENT_BYTES} bytes`);
    }
  }
  if (Buffer.byteLength(canonical, 'utf8') > MAX_PATH_BYTES) {
    throw unsafe(raw, `the path is longer than ${MAX_PATH_BYTES} bytes`);
  }
  return canonical;
}

/**
 * The rules that do not depend on percent-decoding; run on the raw and on the decoded text, so a
 * rule cannot be dodged by encoding the character it looks for.
 */
function checkStructure(raw: string, s: string): void {
  if (s.includes('\u0000')) throw unsafe(raw, 'contains a NUL byte');
  if (CONTROL_RE.test(s)) throw unsafe(raw, 'contains a control character');
  if (LONE_SURROGATE_RE.test(s)) throw unsafe(raw, 'contains an unpaired UTF-16 surrogate (not valid Unicode)');
  if (s.includes('\\')) throw unsafe(raw, 'contains a backslash; only / separates segments');
  // The drive check comes before the scheme check: `C:` also looks like a one-letter scheme, and
  // "Windows drive" is the more helpful message.
  if (WINDOWS_DRIVE_RE.test(s)) throw unsafe(raw, 'is a Windows drive path');
  const scheme = SCHEME_RE.exec(s);
  if (scheme) throw unsafe(raw, `has a URI scheme '${scheme[0]}'; pass a path relative to the store`);
  if (s.startsWith('/')) throw unsafe(raw, 'is absolute; pass a path relative to the store');
  if (s.includes(';')) throw unsafe(raw, "contains a ';' path parameter");
  if (s.includes('?')) throw unsafe(raw, "contains a '?' query");
  if (s.includes('#')) throw unsafe(raw, "contains a '#' fragment");
  if (s.split('/').includes('..')) throw unsafe(raw, "contains a '..' segment");
}

/**
 * Joins a normalized relative path to an absolute root and proves the result is still inside it.
 * {@link normalizeArtifactPath} already refuses everything that could escape; this is the second,
 * independent check, done with the platform's own path arithmetic, so a gap in one is not a hole.
 * An empty `relPath` is the root itself.
 */
export function resolveInside(root: string, relPath: string): string {
  if (!path.isAbsolute(root)) throw unsafe(relPath, `the store root '${root}' is not an absolute path`);
  if (relPath.includes('\u0000')) throw unsafe(relPath, 'contains a NUL byte');
  const base = path.resolve(root);
  const full = path.resolve(base, relPath);
  const rel = path.relative(base, full);
  // `..foo` is a legal name inside the root, so compare whole segments, not a string prefix.
  if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
    throw unsafe(relPath, 'resolves outside the store root');
  }
  return full;
}

// host, host:port, [ipv6]:port — anything else in an authority (userinfo, escapes, backslashes) is refused.
const AUTHORITY_RE = /^(?:[A-Za-z0-9._~-]*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;
const URI_RE = /^([A-Za-z][A-Za-z0-9+.-]*):(.*)$/s;

/**
 * Splits an artifact URI (`mlflow-artifacts:/a/b`, `mlflow-artifacts://host:port/a/b`,
 * `runs:/<run_id>/path`, `file:/abs/dir`) into its lower-cased scheme and a normalized path.
 *
 * The path is always relative: the leading `/` and any authority (`//host:port`) are dropped, so
 * `runs:/<run_id>/model` gives `<run_id>/model` and `file:///srv/a` gives `srv/a`. A caller that
 * turns it into a location must do so with {@link resolveInside} under its own root — this function
 * says what the URI names, never that the caller may touch it. Only `allowedSchemes` are accepted,
 * because each call site knows which stores it can reach and an unexpected scheme is either a
 * mistake or an attempt to reach another one.
 */
export function parseArtifactUri(
  uri: string,
  allowedSchemes: readonly string[],
  opts: NormalizeOptions = {},
): { scheme: string; path: string } {
  if (typeof uri !== 'string') throw unsafe(String(uri), 'the URI is not a string');
  const m = URI_RE.exec(uri);
  if (!m) throw unsafe(uri, 'is not a URI: it has no scheme');
  // Both groups of URI_RE are mandatory, so a match has them.
  const scheme = m[1]!.toLowerCase();
  if (!allowedSchemes.some((s) => s.toLowerCase() === scheme)) {
    const allowed = allowedSchemes.length ? allowedSchemes.map((s) => `'${s}:'`).join(', ') : 'none';
    throw unsafe(uri, `the scheme '${scheme}:' is not allowed here (allowed: ${allowed})`);
  }

  let rest = m[2]!;
  if (rest.startsWith('//')) {
    const end = rest.indexOf('/', 2);
    const authority = end === -1 ? rest.slice(2) : rest.slice(2, end);
    if (!AUTHORITY_RE.test(authority)) throw unsafe(uri, `has a malformed authority '${authority}'`);
    rest = end === -1 ? '' : rest.slice(end);
  }
  // Exactly one slash: `file:////etc` keeps a leading `/` and is refused as absolute, instead of
  // being silently read as relative.
  if (rest.startsWith('/')) rest = rest.slice(1);

  try {
    return { scheme, path: normalizeArtifactPath(rest, opts) };
  } catch (e) {
    // Name the whole URI the caller sent, not the fragment they never typed on its own.
    if (isTrellisError(e, 'TRELLIS_PATH_UNSAFE')) {
      throw new TrellisError('TRELLIS_PATH_UNSAFE', { path: printable(uri), detail: e.params.detail }, { cause: e });
    }
    throw e;
  }
}

function unsafe(raw: string, detail: string): TrellisError {
  return new TrellisError('TRELLIS_PATH_UNSAFE', { path: printable(raw), detail });
}

/**
 * The refused path ends up in an error body and a log line; escape control characters and cap
 * the length so the path cannot forge or flood a line of the log.
 */
function printable(raw: string): string {
  const short = raw.length > MAX_SHOWN_CHARS ? `${raw.slice(0, MAX_SHOWN_CHARS)}…` : raw;
  return short.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
