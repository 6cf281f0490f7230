/**
 * Tree-ensemble prediction by leaf bitmasks, compiled to WebAssembly for one ensemble.
 *
 * A tree's leaves are numbered left to right, and a row's leaf is the leftmost one that no split
 * the row goes right at rules out (a split sent right rules out the leaves of its left subtree; the
 * leaf the row reaches is under every split it went right at on its way, in the right subtree,
 * and every leaf to its left lies in the left subtree of a split on its path that sent it right).
 * The splits of a tree on one column are decided by the row's code for that column (tree.ts: the
 * rank of a numeric value among its feature's thresholds, a category code, a code for missing), so
 * for each tree and column a table gives, per code, the leaves that the column's splits rule out —
 * the mask of the leaves they leave — and the row's leaf is the lowest set bit of the AND of one
 * table entry per column the tree uses. No node is visited: a tree is a handful of independent
 * loads, with no branch but the loop's. Trees of up to 32 leaves use 32-bit masks, up to 64 64-bit
 * ones; larger trees are left to the node walk.
 *
 * The module is generated for the ensemble: a few trees at a time (as many as keep their tables in
 * the first-level cache) a loop over the rows of a chunk, with the tables' addresses and the code
 * offsets inlined, and the encoding of a chunk's features into 16-bit codes one straight run of
 * operations per column. Rows add their trees' leaf values in tree order, as the node walk does,
 * so the sums are the same to the bit.
 */

/** A column of codes (see tree.ts): a numeric feature's thresholds, or a categorical feature's codes. */
export interface CodeColumn {
  feature: number;
  /** Numeric: the feature's distinct thresholds, ascending. */
  edges?: number[];
  /** Codes: ranks 0…edges.length and missing; or categories 0…top, any other, missing. */
  size: number;
}

/** A tree's nodes, as the generator needs them. */
export interface MaskTree {
  /** Which output the tree adds to; -1 for vector leaves over all outputs. */
  output: number;
  /** Per node (tree-local): its column, or -1 for a leaf. */
  column: Int32Array;
  left: Int32Array;
  right: Int32Array;
  /** Per node on a numeric column: its threshold's rank among the column's (-1 for a NaN threshold, which sends every value right). */
  rank: Int32Array;
  /** Per node: 1 when it sends a missing value left. */
  missingLeft: Uint8Array;
  /** Sets `left[code]` to 1 for each category code that node `node`, on a category column, sends left. */
  categoryCodes: (node: number, left: Uint8Array) => void;
  /** The values of leaf `node`: one, or one per output for vector leaves. */
  leafValues: (node: number) => ArrayLike<number>;
}

export interface MaskWalk {
  memory: WebAssembly.Memory;
  /** Codes n rows of the chunk at `x` (p f64 each). */
  encode: (n: number) => void;
  /** Adds the n coded rows' leaf values to `out` (n × outputs, zeroed by the caller). */
  walk: (n: number) => void;
  x: number;
  out: number;
  chunk: number;
}

/** Trees walked together over a chunk's rows: at most this many, with at most this many bytes of tables. */
const RUN_TREES = 8;
const RUN_BYTES = 32 << 10;
/** Above this many bytes of tables and leaf values an ensemble keeps the node walk. */
const MAX_TABLE_BYTES = 16 << 20;

/** The leaves of a tree left to right (tree-local node ids), or null above 64 or for a node with two parents. */
function leavesInOrder(t: MaskTree): number[] | null {
  const leaves: number[] = [];
  const seen = new Uint8Array(t.column.length);
  const stack = [0];
  while (stack.length) {
    const i = stack.pop()!;
    if (seen[i]) return null;
    seen[i] = 1;
    if (t.column[i]! < 0) {
      leaves.push(i);
      if (leaves.length > 64) return null;
    } else stack.push(t.right[i]!, t.left[i]!);
  }
  return leaves;
}

interface Planned {
  wide: boolean;
  /** [column, byte address of its table] per column the tree splits on. */
  terms: [number, number][];
  values: number;
  /** Bytes of its tables and leaf values. */
  bytes: number;
}

/**
 * Generates and instantiates the module for an ensemble over rows of p features, or null when it
 * does not suit (a tree of more than 64 leaves, or tables too large).
 */
export function maskWalk(trees: MaskTree[], columns: CodeColumn[], searchSteps: number[], k: number, p: number, chunk: number): MaskWalk | null {
  const align = (v: number, a: number) => Math.ceil(v / a) * a;
  // Layout: tables, leaf values, thresholds, then the chunk's features, codes and outputs.
  let at = 0;
  const plans: Planned[] = [];
  const leafLists: number[][] = [];
  for (const t of trees) {
    const leaves = leavesInOrder(t);
    if (!leaves) return null;
    leafLists.push(leaves);
    const wide = leaves.length > 32;
    const used = [...new Set(Array.from(t.column).filter((c) => c >= 0))].sort((a, b) => a - b);
    const terms: [number, number][] = [];
    for (const c of used) {
      at = align(at, 8);
      terms.push([c, at]);
      at += (wide ? 8 : 4) * columns[c]!.size;
    }
    at = align(at, 8);
    const values = at;
    at += 8 * leaves.length * (t.output >= 0 ? 1 : k);
    plans.push({ wide, terms, values, bytes: at - (terms[0]?.[1] ?? values) });
    if (at > MAX_TABLE_BYTES) return null;
  }
  const edgesAt: number[] = [];
  for (const [j, col] of columns.entries()) {
    edgesAt.push(at);
    if (col.edges?.length) at += 8 * (2 * searchSteps[j]! - 1);
  }
  const ncols = columns.length;
  const rowCodes = 2 * Math.max(1, ncols);
  const xAt = align(at, 16);
  const codesAt = align(xAt + 8 * chunk * p, 16);
  const outAt = align(codesAt + rowCodes * chunk, 16);
  const end = outAt + 8 * chunk * k;
  const pages = Math.ceil(end / 65_536);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  const buf = memory.buffer;
  const f64 = new Float64Array(buf);
  // Tables: for each code, the leaves the tree's splits on the column leave.
  const scratch = new Uint8Array(Math.max(1, ...columns.map((col) => col.size)));
  trees.forEach((t, ti) => {
    const leaves = leafLists[ti]!;
    const plan = plans[ti]!;
    // The leaves under each node, as a range of leaf positions.
    const first = new Int32Array(t.column.length);
    const last = new Int32Array(t.column.length);
    leaves.forEach((node, j) => { first[node] = j; last[node] = j; });
    const order: number[] = [];
    const stack = [0];
    while (stack.length) {
      const i = stack.pop()!;
      order.push(i);
      if (t.column[i]! >= 0) stack.push(t.left[i]!, t.right[i]!);
    }
    for (let q = order.length - 1; q >= 0; q--) {
      const i = order[q]!;
      if (t.column[i]! >= 0) {
        first[i] = first[t.left[i]!]!;
        last[i] = last[t.right[i]!]!;
      }
    }
    // Masks as two 32-bit halves: leaves 0…31 and 32…63.
    const allLo = leaves.length >= 32 ? 0xffffffff : 2 ** leaves.length - 1;
    const allHi = leaves.length > 32 ? 2 ** (leaves.length - 32) - 1 : 0;
    const wide = plan.wide;
    // Per column: the masks of its codes, as leaves 0…31 and (wide) 32…63.
    const masks = new Map<number, [Uint32Array, Uint32Array]>();
    for (const [c] of plan.terms) {
      const size = columns[c]!.size;
      masks.set(c, [new Uint32Array(size).fill(allLo), new Uint32Array(wide ? size : 0).fill(allHi)]);
    }
    // A numeric split sends right the codes above its threshold's rank: the masks of a column's
    // codes are running ANDs, over the codes in order, of what each rank's splits rule out.
    const above = new Map<number, [number, number, number][]>();
    for (const i of order) {
      const c = t.column[i]!;
      if (c < 0) continue;
      // The leaves of the left subtree, positions a…b, ruled out.
      const a = first[t.left[i]!]!;
      const b = last[t.left[i]!]!;
      const keepLo = a > 31 ? allLo : allLo & ~(2 ** (Math.min(b, 31) + 1) - 2 ** a);
      const keepHi = b < 32 ? allHi : allHi & ~(2 ** (b - 31) - 2 ** Math.max(0, a - 32));
      const col = columns[c]!;
      const [lo, hi] = masks.get(c)!;
      if (!t.missingLeft[i]) {
        lo[col.size - 1] = lo[col.size - 1]! & keepLo;
        if (wide) hi[col.size - 1] = hi[col.size - 1]! & keepHi;
      }
      if (col.edges) {
        let splits = above.get(c);
        if (!splits) above.set(c, (splits = []));
        splits.push([t.rank[i]!, keepLo, keepHi]);
      } else {
        // Category codes 0…top and the code for any other: right unless in the node's set.
        const left = scratch.subarray(0, col.size - 1).fill(0);
        t.categoryCodes(i, left);
        for (let code = 0; code < col.size - 1; code++) {
          if (left[code]) continue;
          lo[code] = lo[code]! & keepLo;
          if (wide) hi[code] = hi[code]! & keepHi;
        }
      }
    }
    for (const [c, splits] of above) {
      const [lo, hi] = masks.get(c)!;
      splits.sort((x, y) => x[0] - y[0]);
      let runLo = allLo;
      let runHi = allHi;
      let from = 0;
      for (const [rank, keepLo, keepHi] of splits) {
        lo.fill(runLo, from, rank + 1);
        if (wide) hi.fill(runHi, from, rank + 1);
        runLo &= keepLo;
        runHi &= keepHi;
        from = Math.max(from, rank + 1);
      }
      lo.fill(runLo, from, lo.length - 1);
      if (wide) hi.fill(runHi, from, hi.length - 1);
    }
    for (const [c, addr] of plan.terms) {
      const [lo, hi] = masks.get(c)!;
      if (!wide) new Uint32Array(buf, addr, lo.length).set(lo);
      else {
        const to = new Uint32Array(buf, addr, 2 * lo.length);
        for (let code = 0; code < lo.length; code++) {
          to[2 * code] = lo[code]!;
          to[2 * code + 1] = hi[code]!;
        }
      }
    }
    const width = t.output >= 0 ? 1 : k;
    leaves.forEach((node, j) => f64.set(t.leafValues(node), plan.values / 8 + j * width));
  });
  columns.forEach((col, j) => {
    if (!col.edges?.length) return;
    const n = 2 * searchSteps[j]! - 1;
    f64.set(col.edges, edgesAt[j]! / 8);
    f64.fill(Number.POSITIVE_INFINITY, edgesAt[j]! / 8 + col.edges.length, edgesAt[j]! / 8 + n);
  });

  // The module: function 0 encode(n), functions 1… one per run of trees (n), then walk(n) calling them.
  const w = new Writer();
  const bodies: Uint8Array[] = [encodeFunction(w, columns, searchSteps, edgesAt, p, xAt, codesAt, rowCodes)];
  // Trees in runs whose tables stay in the first-level cache together, each run one function.
  const runs: number[] = [];
  let runBytes = 0;
  plans.forEach((plan, ti) => {
    if (ti === 0 || runBytes + plan.bytes > RUN_BYTES || ti - runs.at(-1)! >= RUN_TREES) {
      runs.push(ti);
      runBytes = 0;
    }
    runBytes += plan.bytes;
  });
  runs.forEach((from, r) => {
    const to = runs[r + 1] ?? trees.length;
    bodies.push(treesFunction(w, trees.slice(from, to), plans.slice(from, to), k, codesAt, outAt, rowCodes));
  });
  w.start();
  for (let r = 0; r < runs.length; r++) w.op(LOCAL_GET, 0).op(CALL).u(1 + r);
  bodies.push(w.body());
  const bytes = moduleBytes(pages, bodies, { encode: 0, walk: runs.length + 1 });
  const exports = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports as unknown as { encode: (n: number) => void; walk: (n: number) => void };
  return { memory, encode: exports.encode, walk: exports.walk, x: xAt, out: outAt, chunk };
}

// --- Code generation -----------------------------------------------------------------------

const I32 = 0x7f;
const F64 = 0x7c;
const BLOCK = 0x02;
const LOOP = 0x03;
const END = 0x0b;
const BR_IF = 0x0d;
const CALL = 0x10;
const SELECT = 0x1b;
const LOCAL_GET = 0x20;
const LOCAL_SET = 0x21;
const LOCAL_TEE = 0x22;
const I32_LOAD = 0x28;
const I64_LOAD = 0x29;
const F64_LOAD = 0x2b;
const I32_LOAD16_U = 0x2f;
const F64_STORE = 0x39;
const I32_STORE16 = 0x3b;
const I32_CONST = 0x41;
const F64_CONST = 0x44;
const I32_EQZ = 0x45;
const I32_LT_U = 0x49;
const F64_EQ = 0x61;
const F64_LT = 0x63;
const F64_GE = 0x66;
const I32_CTZ = 0x68;
const I32_ADD = 0x6a;
const I32_MUL = 0x6c;
const I32_AND = 0x71;
const I32_SHL = 0x74;
const I64_CTZ = 0x7a;
const I64_AND = 0x83;
const F64_ADD = 0xa0;
const I32_WRAP_I64 = 0xa7;
const EMPTY = 0x40;

/** Bytes of WebAssembly, written one function body at a time. */
class Writer {
  private buf = new Uint8Array(1 << 12);
  private at = 0;
  private locals: number[] = [];

  byte(b: number): this {
    if (this.at === this.buf.length) {
      const grown = new Uint8Array(2 * this.buf.length);
      grown.set(this.buf);
      this.buf = grown;
    }
    this.buf[this.at++] = b;
    return this;
  }

  op(...bs: number[]): this {
    for (const b of bs) this.byte(b);
    return this;
  }

  /** Unsigned LEB128. */
  u(v: number): this {
    do {
      let b = v % 128;
      v = Math.floor(v / 128);
      if (v) b |= 0x80;
      this.byte(b);
    } while (v);
    return this;
  }

  /** i32.const v (signed LEB128). */
  i32(v: number): this {
    this.byte(I32_CONST);
    v |= 0;
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      if ((v === 0 && !(b & 0x40)) || (v === -1 && b & 0x40)) return this.byte(b);
      this.byte(b | 0x80);
    }
  }

  f64(v: number): this {
    this.byte(F64_CONST);
    for (const b of new Uint8Array(Float64Array.of(v).buffer)) this.byte(b);
    return this;
  }

  /** A load or store with its alignment (log2) and constant offset. */
  mem(op: number, alignLog2: number, offset: number): this {
    return this.byte(op).byte(alignLog2).u(offset);
  }

  /** Starts a function body with extra locals ([count, type] after the parameter n). */
  start(...locals: number[]): this {
    this.at = 0;
    this.locals = locals;
    return this;
  }

  /** The body begun by `start`, with its size and locals. */
  body(): Uint8Array {
    this.byte(END);
    const head: number[] = [];
    const pushU = (v: number) => { do { let b = v % 128; v = Math.floor(v / 128); if (v) b |= 0x80; head.push(b); } while (v); };
    pushU(this.locals.length / 2);
    for (const v of this.locals) head.push(v);
    const size: number[] = [];
    let v = head.length + this.at;
    do { let b = v % 128; v = Math.floor(v / 128); if (v) b |= 0x80; size.push(b); } while (v);
    const out = new Uint8Array(size.length + head.length + this.at);
    out.set(size);
    out.set(head, size.length);
    out.set(this.buf.subarray(0, this.at), size.length + head.length);
    return out;
  }
}

/**
 * encode(n): the codes of n rows of features at xAt, 16 bits per column, rowCodes bytes per row.
 * Locals: 0 n, 1 row's features, 2 row's codes, 3 end, 4 value, 5 position.
 */
function encodeFunction(w: Writer, columns: CodeColumn[], searchSteps: number[], edgesAt: number[], p: number, xAt: number, codesAt: number, rowCodes: number): Uint8Array {
  w.start(3, I32, 1, F64, 1, I32);
  if (!columns.length) return w.body();
  w.i32(xAt).op(LOCAL_SET, 1).i32(codesAt).op(LOCAL_SET, 2);
  w.op(LOCAL_GET, 0).i32(8 * p).op(I32_MUL).i32(xAt).op(I32_ADD, LOCAL_SET, 3);
  w.op(BLOCK, EMPTY, LOCAL_GET, 0, I32_EQZ, BR_IF, 0, LOOP, EMPTY);
  columns.forEach((col, j) => {
    w.op(LOCAL_GET, 1).mem(F64_LOAD, 3, 8 * col.feature).op(LOCAL_SET, 4);
    if (col.edges) {
      // The number of thresholds below the value: a branch-free binary search over the
      // thresholds padded with +Infinity (no threshold is below NaN; missing is set after).
      w.i32(0).op(LOCAL_SET, 5);
      for (let step = searchSteps[j]!; step >= 1 && col.edges.length; step >>= 1) {
        w.op(LOCAL_GET, 5).i32(step).op(I32_ADD, LOCAL_GET, 5);
        w.op(LOCAL_GET, 5).i32(3).op(I32_SHL).mem(F64_LOAD, 3, edgesAt[j]! + 8 * (step - 1)).op(LOCAL_GET, 4, F64_LT);
        w.op(SELECT, LOCAL_SET, 5);
      }
    } else {
      // A category: the value's integer part when 0 ≤ value < M, else M (any other code).
      const m = col.size - 2;
      w.op(LOCAL_GET, 4, 0xfc, 3).i32(m);
      w.op(LOCAL_GET, 4).f64(0).op(F64_GE, LOCAL_GET, 4).f64(m).op(F64_LT, I32_AND);
      w.op(SELECT, LOCAL_SET, 5);
    }
    // Missing: the column's last code.
    w.op(LOCAL_GET, 2, LOCAL_GET, 5).i32(col.size - 1).op(LOCAL_GET, 4, LOCAL_GET, 4, F64_EQ, SELECT);
    w.mem(I32_STORE16, 1, 2 * j);
  });
  w.op(LOCAL_GET, 2).i32(rowCodes).op(I32_ADD, LOCAL_SET, 2);
  w.op(LOCAL_GET, 1).i32(8 * p).op(I32_ADD, LOCAL_TEE, 1, LOCAL_GET, 3, I32_LT_U, BR_IF, 0, END, END);
  return w.body();
}

/**
 * A run of trees over n coded rows: for each row, each tree's leaf value added to its output in
 * tree order (one output: summed in a local, stored once per row).
 * Locals: 0 n, 1 row's codes, 2 row's outputs, 3 end, 4 leaf's values, 5 sum.
 */
function treesFunction(w: Writer, trees: MaskTree[], plans: Planned[], k: number, codesAt: number, outAt: number, rowCodes: number): Uint8Array {
  w.start(4, I32, 1, F64);
  w.i32(codesAt).op(LOCAL_SET, 1).i32(outAt).op(LOCAL_SET, 2);
  w.op(LOCAL_GET, 0).i32(rowCodes).op(I32_MUL).i32(codesAt).op(I32_ADD, LOCAL_SET, 3);
  w.op(BLOCK, EMPTY, LOCAL_GET, 0, I32_EQZ, BR_IF, 0, LOOP, EMPTY);
  if (k === 1) w.op(LOCAL_GET, 2).mem(F64_LOAD, 3, 0).op(LOCAL_SET, 5);
  trees.forEach((t, ti) => {
    const plan = plans[ti]!;
    // The leaf's position: the lowest bit of the AND of the tree's table entries for the row.
    if (!plan.terms.length) w.i32(0);
    else {
      plan.terms.forEach(([c, addr], j) => {
        w.op(LOCAL_GET, 1).mem(I32_LOAD16_U, 1, 2 * c).i32(plan.wide ? 3 : 2).op(I32_SHL);
        if (plan.wide) w.mem(I64_LOAD, 3, addr);
        else w.mem(I32_LOAD, 2, addr);
        if (j > 0) w.op(plan.wide ? I64_AND : I32_AND);
      });
      if (plan.wide) w.op(I64_CTZ, I32_WRAP_I64);
      else w.op(I32_CTZ);
    }
    const width = t.output >= 0 ? 1 : k;
    w.i32(8 * width).op(I32_MUL, LOCAL_SET, 4);
    if (k === 1) {
      w.op(LOCAL_GET, 5, LOCAL_GET, 4).mem(F64_LOAD, 3, plan.values).op(F64_ADD, LOCAL_SET, 5);
      return;
    }
    for (let j = 0; j < width; j++) {
      const out = t.output >= 0 ? t.output : j;
      w.op(LOCAL_GET, 2, LOCAL_GET, 2).mem(F64_LOAD, 3, 8 * out).op(LOCAL_GET, 4).mem(F64_LOAD, 3, plan.values + 8 * j).op(F64_ADD);
      w.mem(F64_STORE, 3, 8 * out);
    }
  });
  if (k === 1) w.op(LOCAL_GET, 2, LOCAL_GET, 5).mem(F64_STORE, 3, 0);
  w.op(LOCAL_GET, 2).i32(8 * k).op(I32_ADD, LOCAL_SET, 2);
  w.op(LOCAL_GET, 1).i32(rowCodes).op(I32_ADD, LOCAL_TEE, 1, LOCAL_GET, 3, I32_LT_U, BR_IF, 0, END, END);
  return w.body();
}

/** A module importing env.memory (pages), with functions of type (i32) → () and the given exports. */
function moduleBytes(pages: number, bodies: Uint8Array[], exports: Record<string, number>): Uint8Array<ArrayBuffer> {
  const uleb = (v: number) => {
    const o: number[] = [];
    do { let b = v % 128; v = Math.floor(v / 128); if (v) b |= 0x80; o.push(b); } while (v);
    return o;
  };
  const section = (id: number, content: number[]) => [id, ...uleb(content.length), ...content];
  const name = (s: string) => [...uleb(s.length), ...Array.from(s, (ch) => ch.charCodeAt(0))];
  const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
  const codeSize = bodies.reduce((sum, b) => sum + b.length, 0) + uleb(bodies.length).length;
  const head = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, 1, I32, 0]])),
    ...section(2, vec([[...name('env'), ...name('memory'), 0x02, 0x01, ...uleb(pages), ...uleb(pages)]])),
    ...section(3, [...uleb(bodies.length), ...new Array<number>(bodies.length).fill(0)]),
    ...section(7, vec(Object.entries(exports).map(([n, i]) => [...name(n), 0x00, ...uleb(i)]))),
    10, ...uleb(codeSize), ...uleb(bodies.length),
  ];
  const out = new Uint8Array(head.length + codeSize - uleb(bodies.length).length);
  out.set(head);
  let at = head.length;
  for (const b of bodies) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}
