import { describe, expect, it } from 'vitest';
import { LogoutTokenError } from './logout-token.error';
import {
  createLogoutTokenVerifier,
  MAX_LOGOUT_TOKEN_LENGTH,
  verifyLogoutToken,
  type LogoutTokenExpectations,
} from './logout-token.verifier';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const HEADER = b64({ alg: 'RS256', kid: 'k1' });
const PAYLOAD = b64({ iss: 'https://op.example.test', aud: 'client' });
const SIGNATURE = 'c2lnbmF0dXJl';

/** Expectations whose keys are never asked for: every case here fails before the signature. */
function expectations(overrides: Partial<LogoutTokenExpectations> = {}): LogoutTokenExpectations {
  return {
    issuer: 'https://op.example.test',
    clientId: 'client',
    algorithms: ['RS256'],
    keys: () => {
      throw new Error('no key is resolved for a token refused before its signature');
    },
    clockToleranceSeconds: 0,
    legacy: false,
    legacyMaxAgeSeconds: 300,
    ...overrides,
  };
}

async function refusal(token: unknown, expected = expectations()): Promise<string> {
  const error: unknown = await verifyLogoutToken(token as string, expected).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(LogoutTokenError);
  return (error as LogoutTokenError).message;
}

describe('verifyLogoutToken: the shape of the compact serialization', () => {
  it('refuses what is not a non-empty string of sane length', async () => {
    for (const token of ['', undefined, 42, { a: 1 }]) {
      expect(await refusal(token)).toBe(
        'Logout token rejected (malformed): the token is empty or not a string',
      );
    }
    const long = `${HEADER}.${'a'.repeat(MAX_LOGOUT_TOKEN_LENGTH)}.${SIGNATURE}`;
    expect(await refusal(long)).toBe(
      `Logout token rejected (malformed): the token is longer than ${MAX_LOGOUT_TOKEN_LENGTH} characters`,
    );
  });

  it('refuses any number of parts but 3 (JWS) and 5 (JWE)', async () => {
    for (const token of ['abc', 'a.b', 'a.b.c.d', 'a.b.c.d.e.f', 'a.b.c.d.e.f.g', '......']) {
      expect(await refusal(token), token).toBe(
        'Logout token rejected (malformed): not a compact JWS (3 parts) or JWE (5 parts)',
      );
    }
  });

  it('refuses a part with a character outside base64url (padding, +, /, spaces)', async () => {
    for (const bad of ['=', '+', '/', ' ', '\n', '%', 'é']) {
      for (const token of [
        `${HEADER}${bad}.${PAYLOAD}.${SIGNATURE}`,
        `${HEADER}.${PAYLOAD}${bad}.${SIGNATURE}`,
        `${HEADER}.${PAYLOAD}.${SIGNATURE}${bad}`,
      ]) {
        expect(await refusal(token), JSON.stringify(token)).toBe(
          'Logout token rejected (malformed): a part is not base64url',
        );
      }
    }
  });

  it('refuses an empty header or payload; an empty signature reaches the signature check', async () => {
    for (const token of [`.${PAYLOAD}.${SIGNATURE}`, `${HEADER}..${SIGNATURE}`, '..', '....']) {
      expect(await refusal(token), token).toBe(
        'Logout token rejected (malformed): empty header or payload',
      );
    }
    const keys = () => Promise.reject(new Error('reached the key resolution'));
    expect(await refusal(`${HEADER}.${PAYLOAD}.`, expectations({ keys }))).toMatch(
      /^Logout token rejected \(jwks_unavailable\)/,
    );
  });

  it('refuses a JWE without a decryption key, and a JWS when one is configured', async () => {
    expect(await refusal('a.b.c.d.e')).toBe(
      'Logout token rejected (malformed): an encrypted (JWE) token, but the registration has no decryption key',
    );
    const withKey = expectations({ decryptionKey: { kty: 'oct', k: 'AAAA' } });
    expect(await refusal(`${HEADER}.${PAYLOAD}.${SIGNATURE}`, withKey)).toBe(
      'Logout token rejected (encryption_required): the registration requires an encrypted (JWE) token',
    );
  });

  it('checks the header before any key is resolved', async () => {
    expect(await refusal(`${b64({ alg: 'RS256', typ: 'at+jwt' })}.${PAYLOAD}.${SIGNATURE}`)).toBe(
      'Logout token rejected (unsupported_typ): header typ must be absent, JWT, logout+jwt, or one of them with application/ before it',
    );
    expect(await refusal(`${b64({ alg: 'RS256', b64: false })}.${PAYLOAD}.${SIGNATURE}`)).toBe(
      'Logout token rejected (malformed): an unencoded payload (b64) is not allowed in a JWT',
    );
    expect(await refusal(`${b64([1])}.${PAYLOAD}.${SIGNATURE}`)).toBe(
      'Logout token rejected (malformed): the JOSE header is not a JSON object',
    );
    expect(await refusal(`bm90IGpzb24.${PAYLOAD}.${SIGNATURE}`)).toBe(
      'Logout token rejected (malformed): the header is not base64url-encoded JSON',
    );
  });
});

describe('createLogoutTokenVerifier', () => {
  it('reads the expectations once: later changes to the object are not seen', async () => {
    const expected = expectations({ algorithms: [] });
    const verify = createLogoutTokenVerifier(expected);
    expected.algorithms = ['RS256'];
    const error: unknown = await verify(`${HEADER}.${PAYLOAD}.${SIGNATURE}`).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ reason: 'alg_not_allowed' });
  });

  it('refuses with a rejection, never a synchronous throw', async () => {
    const verify = createLogoutTokenVerifier(expectations());
    let result: Promise<unknown> | undefined;
    expect(() => {
      result = verify('');
    }).not.toThrow();
    await expect(result).rejects.toBeInstanceOf(LogoutTokenError);
  });
});
