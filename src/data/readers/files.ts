/** What the readers share about files: how failing to open one is reported. */
import { TrellisError, isTrellisError } from '../../core/errors.js';
import type { ColumnInference, Table } from '../table.js';

export interface ReadResult {
  readonly table: Table;
  /** Per column: the type chosen and, for a column that fell back to string, the value that made it. */
  readonly inference: readonly ColumnInference[];
}

/** Maps a file-system failure to a registry error that names the file; other errors pass through. */
export function openError(e: unknown, file: string): unknown {
  if (isTrellisError(e)) return e;
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return new TrellisError('TRELLIS_DATA_FILE_NOT_FOUND', { file }, { cause: e });
  if (code === 'EISDIR') {
    return new TrellisError('TRELLIS_DATA_FORMAT', { file, format: 'a data file', detail: 'it is a directory' }, { cause: e });
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return new TrellisError('TRELLIS_DATA_FORMAT', { file, format: 'a data file', detail: 'permission denied' }, { cause: e });
  }
  return e;
}
