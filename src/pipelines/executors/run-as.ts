/**
 * The unprivileged user a deployed pipeline's code runs as when Trellis runs as root. The
 * administrator names it (`--run-as`, `$TRELLIS_RUN_AS`: a user name, or `uid[:gid]`); unnamed, it
 * is `nobody`. A process that is not root cannot change user, and runs the code as itself.
 *
 * Around each attempt of a step run as that user: its folder is handed to the user before the
 * code starts (the only place it may write: outputs, metrics, HOME, TMPDIR), and taken back after
 * it ended, top-down, before Trellis — as root — reads anything in it. Taking it back refuses what
 * would make root read something the user could not: a symbolic link, a FIFO or device, a hard
 * link to another user's file.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lchownSync, lstatSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { invalid, TrellisError } from '../../core/errors.js';
import type { AttemptHandle, Launch } from './attempts.js';

/** Who user code runs as: numeric ids (what `spawn` takes) and a name for messages. */
export interface RunAs {
  uid: number;
  gid: number;
  user: string;
}

const NOBODY = 'nobody';

export const isRoot = (): boolean => process.getuid?.() === 0;

/** A passwd entry by name or uid: `getent` (which sees every user database), else `/etc/passwd`. */
function passwdEntry(key: string): { name: string; uid: number; gid: number } | undefined {
  let line: string | undefined;
  try {
    line = execFileSync('getent', ['passwd', key], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0];
  } catch (e) {
    // getent exits 2 for an unknown key; any other failure (no getent) falls back to the file.
    if ((e as { status?: number }).status === 2) return undefined;
    const numeric = /^\d+$/.test(key);
    line = existsSync('/etc/passwd')
      ? readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.split(':')[numeric ? 2 : 0] === key)
      : undefined;
  }
  const f = line?.split(':');
  if (!f || f.length < 4 || !/^\d+$/.test(f[2]!) || !/^\d+$/.test(f[3]!)) return undefined;
  return { name: f[0]!, uid: Number(f[2]), gid: Number(f[3]) };
}

/**
 * `spec` — a user name, or `uid[:gid]` — as ids. A name must exist; a bare uid takes its group
 * from its passwd entry when it has one, else the group of the same number. Root is refused.
 */
export function resolveRunAs(spec: string, source = '--run-as'): RunAs {
  const text = spec.trim();
  const ids = /^(\d+)(?::(\d+))?$/.exec(text);
  let r: RunAs;
  if (ids) {
    const entry = passwdEntry(ids[1]!);
    const uid = Number(ids[1]);
    r = { uid, gid: ids[2] !== undefined ? Number(ids[2]) : entry?.gid ?? uid, user: entry?.name ?? `uid ${uid}` };
  } else {
    if (!/^[A-Za-z_][A-Za-z0-9_.-]*\$?$/.test(text)) throw invalid(`${source} '${spec}' is not a user name or uid[:gid]`);
    const entry = passwdEntry(text);
    if (!entry) throw invalid(`${source}: there is no user '${text}' on this machine (checked with getent passwd and /etc/passwd); create it, or name another user or a uid[:gid]`);
    r = { uid: entry.uid, gid: entry.gid, user: entry.name };
  }
  if (r.uid === 0 || r.gid === 0) throw invalid(`${source} '${spec}' is root (uid or gid 0): deployed pipelines' code never runs as root; name an unprivileged user`);
  return r;
}

/**
 * Who runs deployed pipelines' code in this process, decided once at start from `--run-as` or
 * `$TRELLIS_RUN_AS`: as root, that user (`nobody` when none is named); otherwise nobody can be
 * switched to, and `runAs` is unset. `note` says which, for the start-up log.
 */
export function userCodeUser(configured?: string, env: NodeJS.ProcessEnv = process.env): { runAs?: RunAs; note: string } {
  const [spec, source] = configured !== undefined ? [configured, '--run-as'] : [env.TRELLIS_RUN_AS || undefined, '$TRELLIS_RUN_AS'];
  // A user that does not exist is an error wherever the setting is given, so a typo shows at once.
  const named = spec ? resolveRunAs(spec, source) : undefined;
  if (!isRoot()) {
    const me = `this process's user (uid ${process.getuid?.() ?? '?'})`;
    return { note: named ? `deployed pipelines' code runs as ${me}: ${source} ${spec} applies only to a process started as root` : `deployed pipelines' code runs as ${me}` };
  }
  const runAs = named ?? defaultRunAs();
  return { runAs, note: `deployed pipelines' code runs as ${runAs.user} (uid ${runAs.uid}, gid ${runAs.gid})${named ? '' : ', the default for a process started as root; name another with --run-as or $TRELLIS_RUN_AS'}` };
}

let nobody: RunAs | undefined;

/** `nobody`, for a root process that was given no user; an error when this machine has none. */
export function defaultRunAs(): RunAs {
  if (nobody) return nobody;
  const entry = passwdEntry(NOBODY);
  if (!entry || entry.uid === 0) {
    throw invalid(`this process runs as root and no user was named to run deployed pipelines' code, and there is no user '${NOBODY}' to fall back on: give --run-as <user> or $TRELLIS_RUN_AS`);
  }
  nobody = { uid: entry.uid, gid: entry.gid, user: entry.name };
  return nobody;
}

/**
 * The first folder on the way to `path` (itself included when it is a folder) that `who` may not
 * pass through, going by its mode bits and owner alone (the user's code runs with its primary
 * group only); undefined when it reaches it.
 */
export function unreachable(path: string, who: RunAs): string | undefined {
  const parts = resolve(path).split(sep).filter(Boolean);
  for (let i = 0; i <= parts.length; i++) {
    const dir = sep + parts.slice(0, i).join(sep);
    const st = statSync(dir);
    if (!st.isDirectory()) break;
    const bit = st.uid === who.uid ? 0o100 : st.gid === who.gid ? 0o010 : 0o001;
    if (!(st.mode & bit)) return dir;
  }
  return undefined;
}

/**
 * Gives `dir` and everything in it to the user (links themselves, never what they point to),
 * bottom-up: a folder's entries are listed while it is still root's, so none can be swapped meanwhile.
 */
export function handOver(dir: string, to: RunAs): void {
  const walk = (p: string) => {
    if (lstatSync(p).isDirectory()) for (const name of readdirSync(p)) walk(join(p, name));
    lchownSync(p, to.uid, to.gid);
  };
  walk(dir);
}

/**
 * Takes `dir` back from the user who wrote it, top-down — each folder becomes root's before its
 * entries are looked at, so the user (or a process of theirs still alive) can no longer swap one —
 * and refuses a link or special file anywhere in it, and a hard link to a file the user does not
 * own: such an entry is removed, and the first one named in the error thrown once all is taken back.
 */
export function takeBack(dir: string, from: RunAs, step: string): void {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  let refused: TrellisError | undefined;
  const refuse = (p: string, what: string) => {
    rmSync(p, { force: true });
    refused ??= new TrellisError('TRELLIS_STEP_FAILED', {
      step, detail: `${p} is ${what}: a deployed pipeline's step may leave only regular files and folders in its folder`,
    });
  };
  const walk = (p: string) => {
    const st = lstatSync(p);
    if (st.isSymbolicLink()) return refuse(p, 'a symbolic link');
    if (!st.isDirectory() && !st.isFile()) return refuse(p, 'a special file (FIFO, socket or device)');
    if (st.isFile() && st.nlink > 1 && st.uid !== from.uid) return refuse(p, `a hard link to a file of uid ${st.uid}`);
    lchownSync(p, uid, gid);
    chmodSync(p, st.mode & 0o755);
    if (st.isDirectory()) for (const name of readdirSync(p)) walk(join(p, name));
  };
  walk(dir);
  if (refused) throw refused;
}

/**
 * Wraps a launch so that each attempt runs with the step's folder handed to `runAs`, and ends
 * with it taken back, however it ended (a refusal fails an attempt that had succeeded).
 */
export function launchAs(runAs: RunAs, stepDir: string, step: string, launch: Launch): Launch {
  const quietly = () => { try { takeBack(stepDir, runAs, step); } catch { /* the attempt's own end says more */ } };
  return (attempt, log) => {
    handOver(stepDir, runAs);
    const h = launch(attempt, log);
    const done = h.done.then(
      (metrics) => { takeBack(stepDir, runAs, step); return metrics; },
      (e: unknown) => { quietly(); throw e; },
    );
    const handle: AttemptHandle = { done, stop: async () => { await h.stop(); quietly(); } };
    return handle;
  };
}

/**
 * A warning when `who` cannot pass through to `home` (where deployed packages are unpacked): every
 * deployed step would fail, so it is said once at start, with the fix. Undefined when all is well.
 */
export function homeWarning(home: string, who: RunAs): string | undefined {
  let dir = resolve(home);
  // The folder may not exist yet: what matters is the way to where it will be.
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  const blocked = unreachable(dir, who);
  if (blocked !== undefined) {
    return `${who.user} (uid ${who.uid}) cannot pass through ${blocked}, on the way to ${home} where deployed pipelines are unpacked: their steps will fail. Set TRELLIS_HOME to a folder that user may reach (e.g. /var/lib/trellis), or name another user with --run-as`;
  }
  const install = unreachable(TRELLIS_ROOT, who);
  if (install !== undefined) {
    return `${who.user} (uid ${who.uid}) cannot pass through ${install}, on the way to ${TRELLIS_ROOT} where Trellis is installed: TypeScript components, which load Trellis and tsx from there, will fail. Install Trellis where that user may read it (e.g. under /opt or /usr/lib), or name another user with --run-as`;
  }
  return undefined;
}

/** Where this Trellis is installed (the folder holding its package.json and node_modules). */
export const TRELLIS_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
