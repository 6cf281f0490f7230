/**
 * Finds the dictionary code of a text field from its bytes, without making a string of it. A
 * categorical CSV column repeats a few values millions of times; hashing the bytes once costs a
 * fraction of decoding them and looking the string up in a Map, which is what it replaces.
 * Slots are masked into range and codes index the per-code arrays, so their reads carry `!`.
 */
export class ByteDictionary {
  private slots = new Int32Array(1024).fill(-1);
  private hashes: Int32Array = new Int32Array(256);
  private starts: Int32Array = new Int32Array(256);
  /** -1 for a code this dictionary never saw as bytes (it came in as a string). */
  private lengths: Int32Array = new Int32Array(256).fill(-1);
  private arena = Buffer.allocUnsafe(16384);
  private used = 0;
  /** Distinct byte strings remembered. */
  count = 0;
  private lastHash = 0;
  private lastSlot = 0;

  /** The code of buf[s, e), or -1 if unknown; then {@link add} may follow for the same bytes. */
  find(buf: Uint8Array, s: number, e: number): number {
    let h = 0x811c9dc5 | 0;
    for (let i = s; i < e; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
    const n = e - s;
    const mask = this.slots.length - 1;
    let slot = h & mask;
    for (;;) {
      const code = this.slots[slot]!;
      if (code < 0) break;
      if (this.hashes[code] === h && this.lengths[code] === n) {
        const a = this.arena;
        let p = this.starts[code]!;
        let i = s;
        while (i < e && a[p] === buf[i]) { p++; i++; }
        if (i === e) return code;
      }
      slot = (slot + 1) & mask;
    }
    this.lastHash = h;
    this.lastSlot = slot;
    return -1;
  }

  /** Remembers that buf[s, e) — just looked up with {@link find} — has `code`. */
  add(code: number, buf: Uint8Array, s: number, e: number): void {
    const n = e - s;
    if (code >= this.lengths.length) {
      const size = Math.max(this.lengths.length * 2, code + 1);
      this.hashes = grow(this.hashes, size, 0);
      this.starts = grow(this.starts, size, 0);
      this.lengths = grow(this.lengths, size, -1);
    }
    if (this.used + n > this.arena.length) {
      const next = Buffer.allocUnsafe(Math.max(this.arena.length * 2, this.used + n));
      this.arena.copy(next, 0, 0, this.used);
      this.arena = next;
    }
    this.arena.set(buf.subarray(s, e), this.used);
    this.hashes[code] = this.lastHash;
    this.starts[code] = this.used;
    this.lengths[code] = n;
    this.used += n;
    this.slots[this.lastSlot] = code;
    if (++this.count * 2 > this.slots.length) this.rehash();
  }

  private rehash(): void {
    const slots = new Int32Array(this.slots.length * 2).fill(-1);
    const mask = slots.length - 1;
    for (let code = 0; code < this.lengths.length; code++) {
      if (this.lengths[code]! < 0) continue;
      let slot = this.hashes[code]! & mask;
      while (slots[slot]! >= 0) slot = (slot + 1) & mask;
      slots[slot] = code;
    }
    this.slots = slots;
  }
}

function grow(a: Int32Array, size: number, fill: number): Int32Array {
  const b = new Int32Array(size).fill(fill);
  b.set(a);
  return b;
}
