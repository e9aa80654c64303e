import { describe, expect, it } from 'vitest';
import { OidcLogoutError } from '../errors/oidc-logout.error';
import { assertIdTokenShape } from './token-response';

const b64 = (value: unknown): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const jwt = (payload: unknown): string => `${b64({ alg: 'RS256' })}.${b64(payload)}.c2ln`;
const claims = { iss: 'https://op', sub: 'u', aud: 'c', exp: 2e9, iat: 1.7e9 };

function rule(tokenResponse: Record<string, unknown>): string | undefined {
  try {
    assertIdTokenShape(tokenResponse);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(OidcLogoutError);
    expect((error as OidcLogoutError).code).toBe('ERR_ID_TOKEN_INVALID');
    return (error as Error).message;
  }
}

describe('assertIdTokenShape', () => {
  it('accepts a compact JWS with the claims passport-openidconnect reads', () => {
    expect(rule({ id_token: jwt(claims) })).toBeUndefined();
    expect(rule({ id_token: jwt({ ...claims, aud: ['c', 'd'], azp: 'c', nonce: 'n' }) })).toBe(
      undefined,
    );
    expect(rule({ id_token: jwt({ ...claims, iat: 1.7e9 + 0.25 }) })).toBeUndefined();
  });

  it('refuses a missing or non-string id_token', () => {
    for (const idToken of [undefined, 42, true, null, {}, ['a.b.c']]) {
      expect(rule({ id_token: idToken })).toMatch(/no id_token|not a string/);
    }
  });

  it('refuses what is not a compact JWS', () => {
    for (const idToken of ['', 'abc', 'a.b', 'a.b.c.d.e', 'a b.c.d', 'a.b.c\n']) {
      expect(rule({ id_token: idToken })).toMatch(/not a compact JWS/);
    }
  });

  it('refuses a payload that is not a JSON object', () => {
    expect(rule({ id_token: jwt('null') })).toMatch(/not a JSON object/);
    expect(rule({ id_token: jwt('7') })).toMatch(/not a JSON object/);
    expect(rule({ id_token: jwt('[1]') })).toMatch(/not a JSON object/);
    expect(rule({ id_token: jwt('{') })).toMatch(/not JSON/);
  });

  it('refuses missing or mistyped claims, naming the claim only', () => {
    for (const name of ['iss', 'sub', 'aud', 'exp', 'iat'] as const) {
      expect(rule({ id_token: jwt({ ...claims, [name]: undefined }) })).toBe(
        `ID token rejected: claim ${name} missing`,
      );
    }
    expect(rule({ id_token: jwt({ ...claims, exp: '2e9' }) })).toMatch(/claim exp missing/);
    expect(rule({ id_token: jwt({ ...claims, aud: [] }) })).toMatch(/claim aud missing/);
    expect(rule({ id_token: jwt({ ...claims, aud: [1] }) })).toMatch(/claim aud missing/);
    expect(rule({ id_token: jwt({ ...claims, nonce: 1 }) })).toMatch(/nonce is not a string/);
    expect(rule({ id_token: jwt({ ...claims, auth_time: 'x' }) })).toMatch(/auth_time/);
  });
});
