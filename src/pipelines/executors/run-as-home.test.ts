/** The warning at start when the user that runs deployed code could not reach where packages are unpacked. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { homeWarning } from './run-as.js';

describe('homeWarning', () => {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-home-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  // A user that owns none of these folders and is in none of their groups.
  const stranger = { uid: 65_530, gid: 65_530, user: 'stranger' };

  it('names the first folder the user cannot pass, even when the home does not exist yet', () => {
    const closed = join(dir, 'closed');
    mkdirSync(closed);
    chmodSync(dir, 0o755);
    chmodSync(closed, 0o700);
    const w = homeWarning(join(closed, 'home', 'packages'), stranger);
    assert.match(w ?? '', new RegExp(`^stranger \\(uid 65530\\) cannot pass through ${closed}, on the way to .*packages where deployed pipelines are unpacked: their steps will fail\\. Set TRELLIS_HOME`));
  });

  it('says nothing when the way is open', () => {
    const open = join(dir, 'open');
    mkdirSync(open, { mode: 0o755 });
    chmodSync(open, 0o755);
    assert.equal(homeWarning(join(open, 'home', 'packages'), stranger), undefined);
  });
});
