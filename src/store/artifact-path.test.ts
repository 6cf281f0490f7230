import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { TrellisError } from '../core/errors.js';
import { normalizeArtifactPath, parseArtifactUri, resolveInside } from './artifact-path.js';
import { TRAVERSAL_CORPUS } from './artifact-store.contract.js';

/** Runs `fn`, expects TRELLIS_PATH_UNSAFE, and returns its detail so a test can check which rule fired. */
function unsafeDetail(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof TrellisError, `expected a TrellisError, got ${String(e)}`);
    assert.equal(e.code, 'TRELLIS_PATH_UNSAFE');
    return String(e.params.detail);
  }
  assert.fail('expected TRELLIS_PATH_UNSAFE, nothing was thrown');
}

describe('normalizeArtifactPath', () => {
  describe('accepts and canonicalizes good paths', () => {
    const cases: Array<[string, string]> = [
      ['model/model.json', 'model/model.json'],
      ['a//b/./c', 'a/b/c'],
      ['my%20file.txt', 'my file.txt'],
      ['a/b/', 'a/b'],
      ['./a', 'a'],
      ['a/./././b//', 'a/b'],
      ['caf%C3%A9/r%C3%A9sum%C3%A9.txt', 'café/résumé.txt'],
      ['naïve 🌱.txt', 'naïve 🌱.txt'],
      ['..foo/bar..', '..foo/bar..'],
      ['.hidden/...', '.hidden/...'],
      ['a/b:c', 'a/b:c'],
      ['metrics/loss@step=1,2', 'metrics/loss@step=1,2'],
    ];
    for (const [raw, want] of cases) {
      it(`${JSON.stringify(raw)} → ${JSON.stringify(want)}`, () => {
        assert.equal(normalizeArtifactPath(raw), want);
      });
    }

    it('is idempotent on its own output', () => {
      for (const [raw] of cases) {
        const once = normalizeArtifactPath(raw);
        assert.equal(normalizeArtifactPath(once), once);
      }
    });
  });

  describe('refuses the traversal corpus', () => {
    for (const bad of TRAVERSAL_CORPUS) {
      it(JSON.stringify(bad), () => {
        unsafeDetail(() => normalizeArtifactPath(bad));
        unsafeDetail(() => normalizeArtifactPath(bad, { allowEmpty: true }));
      });
    }
  });

  describe('names the rule that was broken', () => {
    const cases: Array<[string, RegExp]> = [
      ['../x', /'\.\.' segment/],
      ['a/../../x', /'\.\.' segment/],
      ['a/..', /'\.\.' segment/],
      ['%2e%2e%2fx', /'\.\.' segment/],
      ['%2E%2E/x', /'\.\.' segment/],
      ['%252e%252e%252fx', /double encoding/],
      ['a%252Fb', /double encoding/],
      ['a%255cb', /double encoding/],
      ['a%2500b', /double encoding/],
      ['100%25', /'%' after decoding/],
      ['a%zzb', /malformed percent-encoding/],
      ['a%', /malformed percent-encoding/],
      ['%ff', /malformed percent-encoding/],
      ['..\\x', /backslash/],
      ['a\\b', /backslash/],
      ['a%5cb', /backslash/],
      ['/etc/passwd', /absolute/],
      ['%2fetc/passwd', /absolute/],
      ['C:/x', /Windows drive/],
      ['c:x', /Windows drive/],
      ['file:///etc/passwd', /URI scheme 'file:'/],
      ['http://evil/x', /URI scheme 'http:'/],
      ['file%3A%2F%2F%2Fetc', /URI scheme/],
      ['a/b;x=1', /';' path parameter/],
      ['a%3Bx', /';' path parameter/],
      ['a#frag', /'#' fragment/],
      ['a%23frag', /'#' fragment/],
      ['a?q=1', /'\?' query/],
      ['a%3Fq', /'\?' query/],
      ['a\u0000b', /NUL/],
      ['a%00b', /NUL/],
      ['a\nb', /control character/],
      ['a%0Db', /control character/],
      ['a\u0085b', /control character/],
      ['a\ud800b', /surrogate/],
      ['', /empty/],
      ['.', /empty/],
      ['./', /empty/],
      [`${'x'.repeat(256)}`, /longer than 255 bytes/],
      [`${'é'.repeat(128)}`, /longer than 255 bytes/],
      [Array.from({ length: 30 }, () => 'y'.repeat(100)).join('/'), /longer than 2048 bytes/],
    ];
    for (const [raw, rule] of cases) {
      it(`${JSON.stringify(raw.length > 40 ? `${raw.slice(0, 40)}…` : raw)}: ${rule.source}`, () => {
        assert.match(unsafeDetail(() => normalizeArtifactPath(raw)), rule);
      });
    }
  });

  it('returns the empty root only when allowed', () => {
    assert.equal(normalizeArtifactPath('', { allowEmpty: true }), '');
    assert.equal(normalizeArtifactPath('./', { allowEmpty: true }), '');
    assert.equal(normalizeArtifactPath('.//.', { allowEmpty: true }), '');
    unsafeDetail(() => normalizeArtifactPath('/', { allowEmpty: true }));
  });

  it('keeps control characters out of the error message', () => {
    try {
      normalizeArtifactPath('a\nFAKE LOG LINE\u0000');
      assert.fail('expected a throw');
    } catch (e) {
      assert.ok(e instanceof TrellisError);
      assert.doesNotMatch(e.message, /[\u0000-\u001f]/);
      assert.match(e.message, /\\u000a/);
    }
  });

  it('refuses a value that is not a string', () => {
    unsafeDetail(() => normalizeArtifactPath(undefined as unknown as string));
  });
});

describe('resolveInside', () => {
  const root = path.resolve('/srv/trellis/refs');

  it('joins a relative path under the root', () => {
    assert.equal(resolveInside(root, 'a/b.txt'), path.join(root, 'a', 'b.txt'));
    assert.equal(resolveInside(root, '..foo'), path.join(root, '..foo'));
  });

  it('returns the root for the empty path', () => {
    assert.equal(resolveInside(root, ''), root);
  });

  it('refuses anything that ends up outside the root', () => {
    for (const rel of ['..', '../x', 'a/../../x', '/etc/passwd', '../refs-evil/x', 'a/../..']) {
      assert.match(unsafeDetail(() => resolveInside(root, rel)), /outside the store root/, rel);
    }
  });

  it('refuses a relative root and a NUL byte', () => {
    assert.match(unsafeDetail(() => resolveInside('relative/root', 'a')), /not an absolute path/);
    unsafeDetail(() => resolveInside(root, 'a\u0000b'));
  });
});

describe('parseArtifactUri', () => {
  const all = ['mlflow-artifacts', 'runs', 'file'] as const;

  const good: Array<[string, { scheme: string; path: string }]> = [
    ['mlflow-artifacts:/a/b', { scheme: 'mlflow-artifacts', path: 'a/b' }],
    ['mlflow-artifacts://localhost:5000/a/b', { scheme: 'mlflow-artifacts', path: 'a/b' }],
    ['mlflow-artifacts://[::1]:5000/1/abc/artifacts', { scheme: 'mlflow-artifacts', path: '1/abc/artifacts' }],
    ['runs:/0123abcd/model', { scheme: 'runs', path: '0123abcd/model' }],
    ['runs:/0123abcd/model/MLmodel', { scheme: 'runs', path: '0123abcd/model/MLmodel' }],
    ['file:/srv/artifacts/1', { scheme: 'file', path: 'srv/artifacts/1' }],
    ['file:///srv/artifacts/1', { scheme: 'file', path: 'srv/artifacts/1' }],
    ['RUNS:/r1/m', { scheme: 'runs', path: 'r1/m' }],
    ['runs:/r1/my%20model', { scheme: 'runs', path: 'r1/my model' }],
  ];
  for (const [uri, want] of good) {
    it(`parses ${uri}`, () => {
      assert.deepEqual(parseArtifactUri(uri, all), want);
    });
  }

  it('refuses a scheme that is not allowed, naming it', () => {
    assert.match(unsafeDetail(() => parseArtifactUri('file:///etc/passwd', ['runs'])), /'file:' is not allowed/);
    assert.match(unsafeDetail(() => parseArtifactUri('s3://bucket/key', all)), /'s3:' is not allowed/);
    assert.match(unsafeDetail(() => parseArtifactUri('runs:/r/m', [])), /not allowed/);
  });

  it('refuses a string without a scheme', () => {
    assert.match(unsafeDetail(() => parseArtifactUri('a/b', all)), /no scheme/);
    assert.match(unsafeDetail(() => parseArtifactUri('/a/b', all)), /no scheme/);
  });

  it('refuses unsafe paths inside an allowed scheme, naming the whole URI', () => {
    for (const uri of [
      'runs:/r1/../../x',
      'runs:/r1/%2e%2e%2f%2e%2e%2fx',
      'runs:/r1/%252e%252e%252fx',
      'mlflow-artifacts:/a\\b',
      'mlflow-artifacts:/a?x=1',
      'mlflow-artifacts:/a#x',
      'mlflow-artifacts:/a;x',
      'file:////etc/passwd',
      'runs:/file:/etc/passwd',
      'runs:/',
    ]) {
      try {
        parseArtifactUri(uri, all);
        assert.fail(`expected ${uri} to be refused`);
      } catch (e) {
        assert.ok(e instanceof TrellisError, uri);
        assert.equal(e.code, 'TRELLIS_PATH_UNSAFE', uri);
        assert.equal(e.params.path, uri);
      }
    }
  });

  it('refuses a malformed authority', () => {
    assert.match(unsafeDetail(() => parseArtifactUri('mlflow-artifacts://user:pw@host/a', all)), /authority/);
    assert.match(unsafeDetail(() => parseArtifactUri('mlflow-artifacts://ho%2fst/a', all)), /authority/);
  });

  it('accepts the root only when allowed', () => {
    assert.deepEqual(parseArtifactUri('mlflow-artifacts:/', all, { allowEmpty: true }), {
      scheme: 'mlflow-artifacts',
      path: '',
    });
    assert.deepEqual(parseArtifactUri('mlflow-artifacts://host:1234', all, { allowEmpty: true }), {
      scheme: 'mlflow-artifacts',
      path: '',
    });
    unsafeDetail(() => parseArtifactUri('mlflow-artifacts:/', all));
  });
});
