/** What a block writer asks of a format: each block's bytes, then the bytes that end the file. */
import type { Table } from '../table.js';

export interface BlockEncoder {
  /** `first`: the file's first block, which a header (if the format has one) goes before. */
  block(t: Table, first: boolean): Uint8Array | string;
  end(): Uint8Array | string;
}
