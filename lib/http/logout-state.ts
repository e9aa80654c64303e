import { timingSafeEqual } from 'node:crypto';
import type { ServerResponse } from 'node:http';

/**
 * The `state` of RP-initiated logout, kept in the browser as a double-submit cookie: the value sent to
 * the OP is also set in a cookie that only this app's logout callback receives, and the callback
 * compares the two. No server-side store, so it works on every instance behind a load balancer, and
 * no key to share between them.
 *
 * Why not signed: a signature would only add something against an attacker who can plant cookies for
 * this host (a compromised sibling subdomain), and what such an attacker would win is a redirect to
 * the configured landing page, which anyone can reach anyway. The callback has no other effect.
 */

/** Name of the state cookie. @internal */
export const LOGOUT_STATE_COOKIE = 'oidc_logout_state';
/** Lifetime of the state cookie: long enough for the OP's confirmation page. @internal */
export const LOGOUT_STATE_MAX_AGE_SECONDS = 600;

/**
 * The path the state cookie is scoped to: the path of `url` (the post-logout redirect URI, or the
 * callback request itself), which includes a global prefix or a proxy's base path that the configured
 * route does not; `fallback` when it cannot be a cookie path.
 *
 * @internal
 */
export function stateCookiePath(url: string, fallback: string): string {
  let path: string;
  try {
    path = new URL(url, 'http://localhost').pathname;
  } catch {
    return fallback;
  }
  // RFC 6265 path-value: no CTL, space or ";".
  return /^\/[\x21-\x3a\x3c-\x7e]*$/.test(path) ? path : fallback;
}

/** The `Set-Cookie` value that stores `state` for the callback path. @internal */
export function stateCookie(
  state: string,
  options: { path: string; secure: boolean; maxAgeSeconds?: number },
): string {
  const maxAge = options.maxAgeSeconds ?? LOGOUT_STATE_MAX_AGE_SECONDS;
  const parts = [
    `${LOGOUT_STATE_COOKIE}=${state}`,
    `Path=${options.path}`,
    `Max-Age=${maxAge}`,
    'HttpOnly',
    'SameSite=Lax',
  ];
  if (maxAge === 0) parts.push('Expires=Thu, 01 Jan 1970 00:00:00 GMT');
  if (options.secure) parts.push('Secure');
  return parts.join('; ');
}

/** The `Set-Cookie` value that deletes the state cookie. @internal */
export function clearedStateCookie(options: { path: string; secure: boolean }): string {
  return stateCookie('', { ...options, maxAgeSeconds: 0 });
}

/** Every value of cookie `name` in a `Cookie` header (a browser may send several). @internal */
export function cookieValues(header: string | string[] | undefined, name: string): string[] {
  const lines = Array.isArray(header) ? header : header === undefined ? [] : [header];
  const values: string[] = [];
  for (const line of lines) {
    for (const pair of line.split(';')) {
      const eq = pair.indexOf('=');
      if (eq < 0 || pair.slice(0, eq).trim() !== name) continue;
      let value = pair.slice(eq + 1).trim();
      if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) {
        value = value.slice(1, -1);
      }
      if (value !== '') values.push(value);
    }
  }
  return values;
}

/** Whether `state` equals one of the cookie values, in time independent of where they differ. @internal */
export function stateMatches(state: string, cookies: readonly string[]): boolean {
  const expected = Buffer.from(state, 'utf8');
  let match = false;
  for (const cookie of cookies) {
    const actual = Buffer.from(cookie, 'utf8');
    if (actual.length === expected.length && timingSafeEqual(actual, expected)) match = true;
  }
  return match;
}

/** Adds a `Set-Cookie` header, keeping those already set (the session middleware's). @internal */
export function appendSetCookie(response: ServerResponse, cookie: string): void {
  const existing = response.getHeader('Set-Cookie');
  const list =
    existing === undefined
      ? []
      : Array.isArray(existing)
        ? existing.map(String)
        : [String(existing)];
  response.setHeader('Set-Cookie', [...list, cookie]);
}
