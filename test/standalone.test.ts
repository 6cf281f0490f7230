// A clone stands alone: nothing reads from beside the checkout, and the committed datasets are the
// files test/data/README.md describes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { dataset, type DatasetFile } from '../src/data/readers/test-helpers/data-files.js';
import { ROOT, repoFiles } from './test-helpers/repo-files.js';

// Built from parts so that this file does not match itself.
const OUTSIDE = [
  { what: 'a folder beside the checkout', needle: ['..', 'shared'].join('/') },
  { what: 'the datasets beside the checkout', needle: ['shared', 'data'].join('/') },
];

describe('a clone stands alone', () => {
  it('no file under src/, test/, bench/, scripts/, examples/ or .ci/ refers to the shared folder beside the checkout', () => {
    const files = repoFiles(['src', 'test', 'bench', 'scripts', 'examples', '.ci']);
    assert.ok(files.includes('test/standalone.test.ts'), 'the walk reaches this file');
    const found: string[] = [];
    for (const f of files) {
      const bytes = readFileSync(join(ROOT, f));
      if (bytes.includes(0)) continue; // binary: databases, Parquet, WebAssembly
      const lines = bytes.toString('utf8').split('\n');
      lines.forEach((line, i) => {
        for (const o of OUTSIDE) if (line.includes(o.needle)) found.push(`${f}:${i + 1}: ${o.what}: ${line.trim()}`);
      });
    }
    assert.deepEqual(found, [], `read data from test/data/ or examples/data/ (dataset() in src/data/readers/test-helpers/data-files.ts) instead:\n${found.join('\n')}`);
  });
});

interface Row { path: string; bytes: number; sha256: string }

/** The checksum table of test/data/README.md: `| `path` | bytes | rows | `sha256` |`. */
function checksumTable(): Row[] {
  const rows: Row[] = [];
  for (const line of readFileSync(join(ROOT, 'test/data/README.md'), 'utf8').split('\n')) {
    const m = /^\| `([^`]+)` \| ([\d,]+) \| [\d,]+ \| `([0-9a-f]{64})` \|$/.exec(line.trim());
    if (m) rows.push({ path: m[1]!, bytes: Number(m[2]!.replaceAll(',', '')), sha256: m[3]! });
  }
  return rows;
}

describe('the committed datasets', () => {
  const rows = checksumTable();

  it('test/data/README.md has a checksum row for every data file in test/data/, and no row twice', () => {
    assert.ok(rows.length >= 6, `expected the checksum table, found ${rows.length} rows`);
    const listed = rows.map((r) => r.path);
    assert.equal(new Set(listed).size, listed.length, 'a file is listed twice');
    const onDisk = readdirSync(join(ROOT, 'test/data')).filter((f) => f !== 'README.md').map((f) => `test/data/${f}`);
    const missing = onDisk.filter((f) => !listed.includes(f));
    assert.deepEqual(missing, [], 'files in test/data/ without a row (source, licence and checksum) in its README');
  });

  it('every file has the size and SHA-256 its row gives', () => {
    for (const r of rows) {
      const path = join(ROOT, r.path);
      assert.ok(existsSync(path), `${r.path} is listed in test/data/README.md but missing`);
      const bytes = readFileSync(path);
      assert.equal(bytes.length, r.bytes, `${r.path}: size`);
      // A line-ending conversion on checkout (core.autocrlf) shows up here: see .gitattributes.
      assert.equal(createHash('sha256').update(bytes).digest('hex'), r.sha256, `${r.path}: SHA-256`);
    }
  });

  it('dataset() finds each file where the table says it is', () => {
    for (const r of rows) assert.equal(dataset(basename(r.path) as DatasetFile), join(ROOT, r.path));
  });
});
