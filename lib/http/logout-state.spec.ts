import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { newLogoutState } from '../services/end-session-url';
import {
  appendSetCookie,
  clearedStateCookie,
  cookieValues,
  LOGOUT_STATE_COOKIE,
  stateCookie,
  stateCookiePath,
  stateMatches,
} from './logout-state';

describe('logout state', () => {
  it('is 256 random bits, base64url', () => {
    const a = newLogoutState();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(newLogoutState()).not.toBe(a);
  });

  it('is kept in an HttpOnly, SameSite=Lax cookie scoped to the callback, Secure over https', () => {
    expect(stateCookie('abc', { path: '/logout/callback', secure: false })).toBe(
      'oidc_logout_state=abc; Path=/logout/callback; Max-Age=600; HttpOnly; SameSite=Lax',
    );
    expect(stateCookie('abc', { path: '/cb', secure: true })).toBe(
      'oidc_logout_state=abc; Path=/cb; Max-Age=600; HttpOnly; SameSite=Lax; Secure',
    );
    expect(clearedStateCookie({ path: '/cb', secure: true })).toBe(
      'oidc_logout_state=; Path=/cb; Max-Age=0; HttpOnly; SameSite=Lax; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure',
    );
  });

  it('scopes the cookie to the path of the post-logout redirect URI', () => {
    expect(stateCookiePath('https://app.example.com/api/logout/callback?x=1', '/f')).toBe(
      '/api/logout/callback',
    );
    expect(stateCookiePath('/logout/callback', '/f')).toBe('/logout/callback');
    expect(stateCookiePath('https://app.example.com/a;b', '/f')).toBe('/f');
    expect(stateCookiePath('http://[bad', '/f')).toBe('/f');
  });

  it('reads every value of the cookie from Cookie headers', () => {
    expect(cookieValues(undefined, LOGOUT_STATE_COOKIE)).toEqual([]);
    expect(
      cookieValues(
        'a=1; oidc_logout_state=x; oidc_logout_state_2=y; oidc_logout_state="z"; oidc_logout_state=',
        LOGOUT_STATE_COOKIE,
      ),
    ).toEqual(['x', 'z']);
    expect(cookieValues(['oidc_logout_state=x', 'b=2'], LOGOUT_STATE_COOKIE)).toEqual(['x']);
  });

  it('matches the state against the cookies exactly', () => {
    expect(stateMatches('abc', ['zzz', 'abc'])).toBe(true);
    expect(stateMatches('abc', [])).toBe(false);
    expect(stateMatches('abc', ['abcd', 'ab', 'ABC'])).toBe(false);
  });

  it('appends a Set-Cookie header to those already set', () => {
    const headers = new Map<string, unknown>();
    const response = {
      getHeader: (name: string) => headers.get(name.toLowerCase()),
      setHeader: (name: string, value: unknown) => headers.set(name.toLowerCase(), value),
    } as unknown as ServerResponse;
    appendSetCookie(response, 'a=1');
    appendSetCookie(response, 'b=2');
    expect(headers.get('set-cookie')).toEqual(['a=1', 'b=2']);
    headers.set('set-cookie', 'sid=x');
    appendSetCookie(response, 'c=3');
    expect(headers.get('set-cookie')).toEqual(['sid=x', 'c=3']);
  });
});
