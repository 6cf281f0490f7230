import { userInfo } from 'node:os';

/** $TRELLIS_USER, else the login name: the audit trail always names a person or a token. */
export function defaultUser(): string {
  if (process.env.TRELLIS_USER) return process.env.TRELLIS_USER;
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'unknown';
  }
}
