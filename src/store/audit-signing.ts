/**
 * The key that signs the audit chain's checkpoints. It lives OUTSIDE the metadata store, so that
 * whoever can write to the database cannot also sign: `$TRELLIS_HOME/audit-signing.key` (or the
 * file `TRELLIS_AUDIT_KEY_FILE` names), an ed25519 private key in PEM (PKCS#8), created on first
 * use with mode 0600. A key file that group or others can read is refused. Its public key is
 * written beside it (`audit-signing.pub`), for an auditor who verifies without the private key.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { invalid } from '../core/errors.js';
import type { CheckpointSigner } from './ports/audit.js';

/** The private key file: `TRELLIS_AUDIT_KEY_FILE`, else `audit-signing.key` under `home`. */
export function auditKeyFile(home: string, env: NodeJS.ProcessEnv = process.env): string {
  return env.TRELLIS_AUDIT_KEY_FILE?.trim() || join(home, 'audit-signing.key');
}

/** Where the public key of `keyFile` is kept: beside it, `.key` replaced by `.pub`. */
export function publicKeyFileOf(keyFile: string): string {
  return `${keyFile.replace(/\.key$/, '')}.pub`;
}

/** A public key's id: the SHA-256 of its DER (SPKI) encoding, hex. */
export function keyIdOf(key: KeyObject): string {
  return createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('hex');
}

function refuseIfExposed(file: string): void {
  if (process.platform === 'win32') return;
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) {
    throw invalid(`the audit signing key ${file} can be read by group or others (mode ${mode.toString(8).padStart(4, '0')}): ` +
      `it must be private to its owner; run: chmod 600 ${file}`);
  }
}

function readPrivateKey(file: string): KeyObject {
  refuseIfExposed(file);
  let key: KeyObject;
  try {
    key = createPrivateKey(readFileSync(file));
  } catch (e) {
    throw invalid(`the audit signing key ${file} is not a PEM private key: ${(e as Error).message}`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw invalid(`the audit signing key ${file} is a ${key.asymmetricKeyType} key: it must be ed25519`);
  return key;
}

/** Creates the key pair at `file` unless it exists; two processes racing both end with the same key. */
function createKeyFile(file: string): void {
  mkdirSync(dirname(file), { recursive: true });
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  try {
    linkSync(tmp, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    return;
  } finally {
    unlinkSync(tmp);
  }
  writePublicKey(file, publicKey);
}

function writePublicKey(file: string, publicKey: KeyObject): void {
  const pub = publicKeyFileOf(file);
  const tmp = `${pub}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644 });
  renameSync(tmp, pub);
}

/**
 * The signer of the checkpoints, over the key at `file`. The key is read (or created) when it is
 * first needed — the first checkpoint — not when the workspace opens.
 */
export function fileSigner(file: string): CheckpointSigner & { readonly keyFile: string } {
  let loaded: { key: KeyObject; keyId: string; publicKey: string } | undefined;
  const load = () => {
    if (!loaded) {
      if (!existsSync(file)) createKeyFile(file);
      const key = readPrivateKey(file);
      const pub = createPublicKey(key);
      if (!existsSync(publicKeyFileOf(file))) writePublicKey(file, pub);
      loaded = { key, keyId: keyIdOf(pub), publicKey: String(pub.export({ type: 'spki', format: 'pem' })) };
    }
    return loaded;
  };
  return {
    keyFile: file,
    get keyId() { return load().keyId; },
    get publicKey() { return load().publicKey; },
    sign: (payload: string) => sign(null, Buffer.from(payload), load().key).toString('base64'),
  };
}

/** The key a verifier trusts, and the file it came from (for messages). */
export interface TrustedKey {
  from: string;
  keyId: string;
  verify(payload: string, signature: string): boolean;
}

function trusted(key: KeyObject, from: string): TrustedKey {
  if (key.asymmetricKeyType !== 'ed25519') throw invalid(`the audit key in ${from} is a ${key.asymmetricKeyType} key: it must be ed25519`);
  return {
    from, keyId: keyIdOf(key),
    verify: (payload, signature) => {
      try {
        return verify(null, Buffer.from(payload), key, Buffer.from(signature, 'base64'));
      } catch {
        return false;
      }
    },
  };
}

/**
 * The public key checkpoints are verified with — never one read from the store: `publicKeyFile`
 * (`--public-key`, a PEM public key) when given, else the key file's own key, else the public key
 * beside it. Undefined when there is none.
 */
export function trustedKey(keyFile: string, publicKeyFile?: string): TrustedKey | undefined {
  if (publicKeyFile !== undefined) {
    let text: Buffer;
    try {
      text = readFileSync(publicKeyFile);
    } catch (e) {
      throw invalid(`cannot read the public key ${publicKeyFile}: ${(e as Error).message}`);
    }
    try {
      return trusted(createPublicKey(text), publicKeyFile);
    } catch (e) {
      throw invalid(`${publicKeyFile} is not a PEM public key: ${(e as Error).message}`);
    }
  }
  if (existsSync(keyFile)) return trusted(createPublicKey(readPrivateKey(keyFile)), keyFile);
  const pub = publicKeyFileOf(keyFile);
  if (existsSync(pub)) return trusted(createPublicKey(readFileSync(pub)), pub);
  return undefined;
}
