/**
 * Base64 for the compact JSON forms of the sketches (HyperLogLog registers, KLL items). Written
 * here rather than taken from `Buffer` so numeric/ runs unchanged in a browser or a worker.
 */
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const LOOKUP = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) LOOKUP[ALPHABET.charCodeAt(i)] = i;

export function encodeBase64(bytes: Uint8Array): string {
  const parts: string[] = [];
  const chunk = 3 * 4096;
  for (let start = 0; start < bytes.length; start += chunk) {
    const end = Math.min(bytes.length, start + chunk);
    let s = '';
    for (let i = start; i < end; i += 3) {
      const rest = end - i;
      const b0 = bytes[i]!;
      const b1 = rest > 1 ? bytes[i + 1]! : 0;
      const b2 = rest > 2 ? bytes[i + 2]! : 0;
      s += ALPHABET[b0 >> 2]! + ALPHABET[((b0 & 3) << 4) | (b1 >> 4)]!;
      s += rest > 1 ? ALPHABET[((b1 & 15) << 2) | (b2 >> 6)]! : '=';
      s += rest > 2 ? ALPHABET[b2 & 63]! : '=';
    }
    parts.push(s);
  }
  return parts.join('');
}

export function decodeBase64(text: string): Uint8Array {
  if (text.length % 4 !== 0) throw new RangeError(`base64 text has length ${text.length}, not a multiple of 4`);
  let pad = 0;
  if (text.endsWith('==')) pad = 2;
  else if (text.endsWith('=')) pad = 1;
  const out = new Uint8Array((text.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    const c0 = sextet(text, i);
    const c1 = sextet(text, i + 1);
    const c2 = text[i + 2] === '=' ? 0 : sextet(text, i + 2);
    const c3 = text[i + 3] === '=' ? 0 : sextet(text, i + 3);
    const triple = (c0 << 18) | (c1 << 12) | (c2 << 6) | c3;
    if (o < out.length) out[o++] = triple >> 16;
    if (o < out.length) out[o++] = (triple >> 8) & 255;
    if (o < out.length) out[o++] = triple & 255;
  }
  return out;
}

function sextet(text: string, i: number): number {
  const code = text.charCodeAt(i);
  const v = code < 128 ? LOOKUP[code]! : -1;
  if (v < 0) throw new RangeError(`invalid base64 character at offset ${i}`);
  return v;
}

/** Float64 values as little-endian bytes, so the encoding is the same on every platform. */
export function encodeFloat64Base64(values: ArrayLike<number>): string {
  const bytes = new Uint8Array(values.length * 8);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat64(i * 8, values[i]!, true);
  return encodeBase64(bytes);
}

export function decodeFloat64Base64(text: string): Float64Array {
  const bytes = decodeBase64(text);
  if (bytes.length % 8 !== 0) throw new RangeError(`${bytes.length} bytes is not a whole number of float64 values`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float64Array(bytes.length / 8);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat64(i * 8, true);
  return out;
}
