/**
 * `trellis users` and `trellis tokens`: the principals a server with auth on knows, their roles,
 * and their API tokens. On the local store they act directly (the first administrator is made this
 * way, before the server starts); with --server (or TRELLIS_TRACKING_URI) they call the server's
 * routes with the caller's own token, and the server decides what the caller may do.
 */
import { Command } from 'commander';
import { invalid } from '../../core/errors.js';
import type { TokenInfo } from '../../governance/identities.js';
import { formatGrant, parseGrant } from '../../governance/policy.js';
import type { Grant, Principal } from '../../store/ports/identities.js';
import { actor, globals, serverChoice } from '../context.js';
import { output, printTable, time } from '../output.js';
import { either, remote } from '../server-rest.js';

interface UserRow {
  name: string;
  kind: string;
  disabled: boolean;
  roles: string[];
  created_at: number;
  created_by: string;
}

interface TokenRow {
  id: string;
  user: string;
  description: string;
  state: string;
  created_at: number;
  created_by: string;
  expires_at?: number;
  revoked_at?: number;
  revoked_by?: string;
}

function userRow(p: Principal): UserRow {
  return { name: p.name, kind: p.kind, disabled: p.disabled, roles: p.grants.map(formatGrant), created_at: p.createdAt, created_by: p.createdBy };
}

function tokenRow(t: TokenInfo): TokenRow {
  return {
    id: t.id, user: t.principal, description: t.description, state: t.state, created_at: t.createdAt, created_by: t.createdBy,
    ...(t.expiresAt !== undefined ? { expires_at: t.expiresAt } : {}),
    ...(t.revokedAt !== undefined ? { revoked_at: t.revokedAt, revoked_by: t.revokedBy } : {}),
  };
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

function grantsOf(roles: string[] | undefined): Grant[] {
  return (roles ?? []).map(parseGrant);
}

function printUser(u: UserRow): void {
  console.log(`${u.kind === 'service' ? 'service account' : 'user'} ${u.name}${u.disabled ? ' (disabled)' : ''}: ${u.roles.length ? u.roles.join(', ') : 'no roles'}`);
}

export function usersCommand(): Command {
  const cmd = new Command('users').description('users and service accounts of a server with auth on, and their roles');
  const roleHelp = 'a role: viewer, contributor, pipeline-deployer, approver, deployer, invoker or admin; add :experiment/<id|name>, :model/<name>, :dataset/<name>, :pipeline/<name> or :endpoint/<name> to grant it on one object (repeatable)';

  cmd.command('create <name>')
    .description('create a user (or, with --service, a service account) with roles')
    .option('--role <role>', roleHelp, collect)
    .option('--service', 'a service account (for CI jobs, schedulers, workers) rather than a person')
    .action(async (name: string, o: { role?: string[]; service?: boolean }, c: Command) => {
      const grants = grantsOf(o.role);
      const kind = o.service ? 'service' : 'user';
      const u = await either(c,
        async (ws) => userRow(await ws.identities.createPrincipal(name, kind, grants, actor(c))),
        async (url) => (await remote<{ user: UserRow }>(url, 'POST', '/users/create', { name, kind, roles: o.role ?? [] })).user);
      output(!!globals(c).json, () => u, () => {
        printUser(u);
        console.log(`next: trellis tokens create ${u.name}`);
      });
    });

  for (const [verb, what] of [['grant', 'add roles to'], ['revoke', 'take roles from']] as const) {
    cmd.command(`${verb} <name>`)
      .description(`${what} a user or service account`)
      .requiredOption('--role <role>', roleHelp, collect)
      .action(async (name: string, o: { role: string[] }, c: Command) => {
        const grants = grantsOf(o.role);
        const u = await either(c,
          async (ws) => userRow(await (verb === 'grant' ? ws.identities.grant(name, grants, actor(c)) : ws.identities.revoke(name, grants, actor(c)))),
          async (url) => (await remote<{ user: UserRow }>(url, 'POST', `/users/${verb}`, { name, roles: o.role })).user);
        output(!!globals(c).json, () => u, () => printUser(u));
      });
  }

  for (const [verb, disabled] of [['disable', true], ['enable', false]] as const) {
    cmd.command(`${verb} <name>`)
      .description(disabled ? 'disable a user or service account: its tokens stop working (nothing is deleted)' : 'enable a disabled user or service account again')
      .action(async (name: string, _o: unknown, c: Command) => {
        const u = await either(c,
          async (ws) => userRow(await ws.identities.setDisabled(name, disabled, actor(c))),
          async (url) => (await remote<{ user: UserRow }>(url, 'POST', `/users/${verb}`, { name })).user);
        output(!!globals(c).json, () => u, () => printUser(u));
      });
  }

  cmd.command('list')
    .description('every user and service account with its roles')
    .action(async (_o: unknown, c: Command) => {
      const users = await either(c,
        async (ws) => (await ws.identities.list()).map(userRow),
        async (url) => (await remote<{ users: UserRow[] }>(url, 'GET', '/users')).users);
      output(!!globals(c).json, () => users, () => printTable(users.map((u) => ({
        name: u.name, kind: u.kind, roles: u.roles.join(', ') || '-', disabled: u.disabled ? 'yes' : '', created: time(u.created_at), by: u.created_by,
      })), ['name', 'kind', 'roles', 'disabled', 'created', 'by'], 'no users yet: trellis users create <name> --role admin'));
    });

  cmd.command('whoami')
    .description('who the server takes you for (with --server), and your roles')
    .action(async (_o: unknown, c: Command) => {
      const server = serverChoice(c);
      if (!server) throw invalid("'trellis users whoami' asks a server: give --server <url> (or set TRELLIS_TRACKING_URI), with TRELLIS_TOKEN set");
      const me = await remote<{ name: string; via: string; roles: string[]; auth: string }>(server.url, 'GET', '/users/whoami');
      output(!!globals(c).json, () => me, () => console.log(me.auth === 'off'
        ? `${server.url} has auth off: every request is allowed, as ${me.name}`
        : `${me.name} (signed in with ${me.via}): ${me.roles.join(', ') || 'no roles'}`));
    });
  return cmd;
}

export function tokensCommand(): Command {
  const cmd = new Command('tokens').description('API tokens: how users, scripts and MLflow clients sign in to a server with auth on');

  cmd.command('create <user>')
    .description('create a token for a user or service account; it is printed once and cannot be shown again')
    .option('--expires <duration>', "how long it is valid: 30d, 12h, 90m, or 'never'", '90d')
    .option('--description <text>', 'what the token is for (e.g. "CI on main")')
    .action(async (user: string, o: { expires: string; description?: string }, c: Command) => {
      const r = await either(c,
        async (ws) => {
          const { token, info } = await ws.identities.createToken(user, { expires: o.expires, description: o.description }, actor(c));
          return { token, token_info: tokenRow(info) };
        },
        async (url) => remote<{ token: string; token_info: TokenRow }>(url, 'POST', '/tokens/create', { user, expires: o.expires, description: o.description }));
      output(!!globals(c).json, () => r, () => {
        const t = r.token_info;
        console.error(`token ${t.id} for ${t.user}${t.expires_at !== undefined ? `, valid until ${time(t.expires_at)}` : ', valid until revoked'}; store it now, it is not shown again:`);
        console.log(r.token);
        console.error(`use it as TRELLIS_TOKEN (Trellis CLI and SDK), MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME=${t.user} with MLFLOW_TRACKING_PASSWORD=<token>`);
      });
    });

  cmd.command('list [user]')
    .description("tokens (never their secrets): a user's, or everyone's")
    .action(async (user: string | undefined, _o: unknown, c: Command) => {
      const tokens = await either(c,
        async (ws) => (await ws.identities.listTokens(user)).map(tokenRow),
        async (url) => (await remote<{ tokens: TokenRow[] }>(url, 'GET', '/tokens', user ? { user } : undefined)).tokens);
      output(!!globals(c).json, () => tokens, () => printTable(tokens.map((t) => ({
        id: t.id, user: t.user, state: t.state, created: time(t.created_at), expires: t.expires_at !== undefined ? time(t.expires_at) : 'never', description: t.description,
      })), ['id', 'user', 'state', 'created', 'expires', 'description'], 'no tokens'));
    });

  cmd.command('revoke <id>')
    .description('revoke a token by its id (as listed); it stops working at once')
    .action(async (id: string, _o: unknown, c: Command) => {
      const t = await either(c,
        async (ws) => tokenRow(await ws.identities.revokeToken(id, actor(c))),
        async (url) => (await remote<{ token_info: TokenRow }>(url, 'POST', '/tokens/revoke', { id })).token_info);
      output(!!globals(c).json, () => t, () => console.log(`token ${t.id} of ${t.user} revoked`));
    });
  return cmd;
}
