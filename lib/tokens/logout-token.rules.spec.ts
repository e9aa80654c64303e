import { describe, expect, it } from 'vitest';
import { BACKCHANNEL_LOGOUT_EVENT } from '../oidc-logout.constants';
import { LogoutTokenError, type LogoutTokenRejection } from './logout-token.error';
import {
  checkLogoutTokenClaims,
  checkLogoutTokenHeader,
  type LogoutTokenClaimExpectations,
} from './logout-token.rules';

const NOW = 1_700_000_000;
const ISSUER = 'https://op.example.test/realms/a';
const CLIENT = 'client-a';
const SID = 'op-session-0f3c';
const SUB = 'user-77ab';

const expected = (
  overrides: Partial<LogoutTokenClaimExpectations> = {},
): LogoutTokenClaimExpectations => ({
  issuer: ISSUER,
  clientId: CLIENT,
  nowSeconds: NOW,
  clockToleranceSeconds: 30,
  legacy: false,
  legacyMaxAgeSeconds: 300,
  ...overrides,
});

/** A valid payload; members set to `undefined` are removed. */
function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const all: Record<string, unknown> = {
    iss: ISSUER,
    aud: CLIENT,
    iat: NOW - 1,
    exp: NOW + 119,
    jti: 'jti-1',
    sid: SID,
    sub: SUB,
    events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
    ...overrides,
  };
  return Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined));
}

/** The rejection of `run`, asserting it is a LogoutTokenError without the sid/sub values. */
function reasonOf(run: () => unknown): LogoutTokenRejection {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(LogoutTokenError);
    const e = error as LogoutTokenError;
    expect(e.code).toBe('ERR_LOGOUT_TOKEN_INVALID');
    expect(e.message).not.toContain(SID);
    expect(e.message).not.toContain(SUB);
    expect(e.message).toContain(e.reason);
    return e.reason;
  }
  throw new Error('expected a rejection');
}

const check = (payload: unknown, opts: Partial<LogoutTokenClaimExpectations> = {}) =>
  checkLogoutTokenClaims(payload, expected(opts));
const reason = (payload: unknown, opts: Partial<LogoutTokenClaimExpectations> = {}) =>
  reasonOf(() => check(payload, opts));

describe('checkLogoutTokenHeader', () => {
  it.each([
    ['absent', {}],
    ['JWT', { typ: 'JWT' }],
    ['jwt (case-insensitive)', { typ: 'jwt' }],
    ['logout+jwt', { typ: 'logout+jwt' }],
    ['Logout+JWT', { typ: 'Logout+JWT' }],
    ['application/logout+jwt', { typ: 'application/logout+jwt' }],
    ['APPLICATION/LOGOUT+JWT', { typ: 'APPLICATION/LOGOUT+JWT' }],
    ['application/jwt (the same type as JWT, RFC 7515 §4.1.9)', { typ: 'application/jwt' }],
  ])('accepts typ %s', (_name, typ) => {
    expect(() => checkLogoutTokenHeader({ alg: 'RS256', ...typ })).not.toThrow();
  });

  it.each([
    ['at+jwt', 'at+jwt'],
    ['id_token+jwt', 'id_token+jwt'],
    ['JWT2', 'JWT2'],
    ['secevent+jwt', 'secevent+jwt'],
    ['empty string', ''],
    ['null', null],
    ['a number', 1],
    ['an array', ['JWT']],
  ])('refuses typ %s', (_name, typ) => {
    expect(reasonOf(() => checkLogoutTokenHeader({ alg: 'RS256', typ }))).toBe('unsupported_typ');
  });

  it.each([null, [], 'x', 1])('refuses a header that is not an object (%j)', (header) => {
    expect(reasonOf(() => checkLogoutTokenHeader(header))).toBe('malformed');
  });
});

describe('checkLogoutTokenClaims', () => {
  it('returns the verified claims', () => {
    expect(check(claims())).toEqual({
      issuer: ISSUER,
      clientId: CLIENT,
      jti: 'jti-1',
      iat: NOW - 1,
      exp: NOW + 119,
      sid: SID,
      sub: SUB,
      revokeOfflineAccess: false,
      acceptableUntil: NOW + 119 + 30,
    });
  });

  it.each([null, [], 'x', 42, true])('refuses a payload that is not an object (%j)', (payload) => {
    expect(reason(payload)).toBe('malformed');
  });

  describe('iss', () => {
    it('accepts the exact issuer', () => expect(check(claims()).issuer).toBe(ISSUER));
    it.each([
      ['another issuer', 'https://evil.example.test'],
      ['a trailing slash', `${ISSUER}/`],
      ['another case', ISSUER.toUpperCase()],
      ['missing', undefined],
      ['null', null],
      ['an array', [ISSUER]],
    ])('refuses %s', (_name, iss) => {
      expect(reason(claims({ iss }))).toBe('iss_mismatch');
    });
  });

  describe('aud', () => {
    it('accepts the client id as a string', () => expect(() => check(claims())).not.toThrow());
    it('accepts an array containing the client id', () => {
      expect(check(claims({ aud: ['other', CLIENT] })).clientId).toBe(CLIENT);
    });
    it.each([
      ['missing', undefined],
      ['another client', 'other'],
      ['an array without it', ['a', 'b']],
      ['an empty array', []],
    ])('refuses %s', (_name, aud) => {
      expect(reason(claims({ aud }))).toBe('aud_mismatch');
    });
    it.each([
      ['null', null],
      ['an object', { [CLIENT]: true }],
      ['a number', 1],
      ['an array with a non-string', [CLIENT, 1]],
      ['an array with null', [null, CLIENT]],
    ])('refuses %s as a type error', (_name, aud) => {
      expect(reason(claims({ aud }))).toBe('claim_type_invalid');
    });
  });

  describe('iat', () => {
    it('accepts iat now, in the past, and in the future within the tolerance', () => {
      expect(() => check(claims({ iat: NOW }))).not.toThrow();
      expect(() => check(claims({ iat: NOW - 100 }))).not.toThrow();
      expect(() => check(claims({ iat: NOW + 30 }))).not.toThrow();
    });
    it('refuses a missing iat', () =>
      expect(reason(claims({ iat: undefined }))).toBe('iat_missing'));
    it.each([
      ['a string', String(NOW)],
      ['null', null],
      ['an object', {}],
    ])('refuses iat %s', (_name, iat) => {
      expect(reason(claims({ iat }))).toBe('claim_type_invalid');
    });
    it('refuses a non-finite iat', () => {
      expect(reason(claims({ iat: Number.NaN }))).toBe('claim_type_invalid');
      expect(reason(claims({ iat: Number.POSITIVE_INFINITY }))).toBe('claim_type_invalid');
    });
    it('refuses iat in the future beyond the tolerance', () => {
      expect(reason(claims({ iat: NOW + 31, exp: NOW + 200 }))).toBe('iat_in_future');
      expect(reason(claims({ iat: NOW + 1 }), { clockToleranceSeconds: 0 })).toBe('iat_in_future');
    });
  });

  describe('exp', () => {
    it('accepts exp in the future, and passed within the tolerance', () => {
      expect(() => check(claims({ exp: NOW + 1 }))).not.toThrow();
      expect(() => check(claims({ iat: NOW - 130, exp: NOW - 10 }))).not.toThrow();
      expect(() => check(claims({ iat: NOW - 130, exp: NOW - 29 }))).not.toThrow();
    });
    it('refuses exp passed beyond the tolerance (exp <= now - tolerance)', () => {
      expect(reason(claims({ iat: NOW - 200, exp: NOW - 30 }))).toBe('expired');
      expect(reason(claims({ iat: NOW - 600, exp: NOW - 480 }))).toBe('expired');
      expect(reason(claims({ iat: NOW - 10, exp: NOW }), { clockToleranceSeconds: 0 })).toBe(
        'expired',
      );
    });
    it('refuses a missing exp by default (errata 1)', () => {
      expect(reason(claims({ exp: undefined }))).toBe('exp_missing');
    });
    it.each([
      ['a string', String(NOW + 100)],
      ['null', null],
      ['NaN', Number.NaN],
    ])('refuses exp %s', (_name, exp) => {
      expect(reason(claims({ exp }))).toBe('claim_type_invalid');
      expect(reason(claims({ exp }), { legacy: true })).toBe('claim_type_invalid');
    });
  });

  describe('NumericDate (RFC 7519): fractions accepted, absurd values refused', () => {
    it('accepts fractions and returns whole seconds, rounded up', () => {
      const verified = check(claims({ iat: NOW - 0.75, exp: NOW + 119.25, nbf: NOW - 0.5 }));
      expect(verified.iat).toBe(NOW);
      expect(verified.exp).toBe(NOW + 120);
      expect(verified.acceptableUntil).toBe(NOW + 150);
      expect(Number.isInteger(verified.acceptableUntil)).toBe(true);
    });
    it('rounds the legacy bound up too', () => {
      const verified = check(claims({ exp: undefined, iat: NOW - 60.5 }), { legacy: true });
      expect(verified.iat).toBe(NOW - 60);
      expect(verified.acceptableUntil).toBe(NOW - 60 + 300 + 30);
    });
    it.each([
      ['iat', { iat: -1 }],
      ['iat', { iat: 253_402_300_800, exp: 253_402_300_900 }],
      ['exp', { exp: 1e13 }],
      ['exp', { exp: 253_402_300_800 }],
      ['exp', { exp: Number.MAX_VALUE }],
      ['nbf', { nbf: 1e13 }],
      ['nbf', { nbf: -0.5 }],
      ['nbf', { nbf: 'soon' }],
      ['nbf', { nbf: null }],
    ])('refuses %s %j, naming it (claim_type_invalid)', (claim, overrides) => {
      let message = '';
      try {
        check(claims(overrides));
      } catch (error) {
        message = (error as LogoutTokenError).message;
      }
      expect(reason(claims(overrides))).toBe('claim_type_invalid');
      expect(message).toContain(`${claim} is not`);
    });
  });

  describe('nbf', () => {
    it('accepts a token without nbf, nbf passed, and nbf ahead within the tolerance', () => {
      expect(() => check(claims())).not.toThrow();
      expect(() => check(claims({ nbf: NOW - 100 }))).not.toThrow();
      expect(() => check(claims({ nbf: NOW + 30 }))).not.toThrow();
    });
    it('refuses nbf ahead beyond the tolerance', () => {
      expect(reason(claims({ nbf: NOW + 31 }))).toBe('nbf_in_future');
      expect(reason(claims({ nbf: NOW + 1 }), { clockToleranceSeconds: 0 })).toBe('nbf_in_future');
    });
  });

  describe('legacy mode', () => {
    const legacy = { legacy: true, legacyMaxAgeSeconds: 300 };
    it('accepts a missing exp when iat is recent', () => {
      const verified = check(claims({ exp: undefined, iat: NOW - 60 }), legacy);
      expect(verified.exp).toBeUndefined();
      expect(verified.acceptableUntil).toBe(NOW - 60 + 300 + 30);
    });
    it('accepts an age up to the cap plus the tolerance', () => {
      expect(() => check(claims({ exp: undefined, iat: NOW - 330 }), legacy)).not.toThrow();
    });
    it('refuses a missing exp when iat is older than the cap plus the tolerance', () => {
      expect(reason(claims({ exp: undefined, iat: NOW - 331 }), legacy)).toBe('too_old');
      expect(reason(claims({ exp: undefined, iat: NOW - 86_400 }), legacy)).toBe('too_old');
    });
    it('still checks exp when it is present', () => {
      expect(reason(claims({ iat: NOW - 100, exp: NOW - 60 }), legacy)).toBe('expired');
      expect(() => check(claims(), legacy)).not.toThrow();
    });
    it('still requires iat', () => {
      expect(reason(claims({ exp: undefined, iat: undefined }), legacy)).toBe('iat_missing');
    });
  });

  describe('jti', () => {
    it('accepts a non-empty string', () => expect(check(claims()).jti).toBe('jti-1'));
    it('refuses a missing jti', () =>
      expect(reason(claims({ jti: undefined }))).toBe('jti_missing'));
    it.each([
      ['empty', ''],
      ['a number', 1],
      ['null', null],
    ])('refuses jti %s', (_name, jti) => {
      expect(reason(claims({ jti }))).toBe('claim_type_invalid');
    });
  });

  describe('events', () => {
    it('accepts the logout member as an object, with other members', () => {
      const verified = check(
        claims({ events: { [BACKCHANNEL_LOGOUT_EVENT]: { x: 1 }, 'urn:other': { y: 2 } } }),
      );
      expect(verified.revokeOfflineAccess).toBe(false);
    });
    it.each([
      ['missing', undefined],
      ['null (typeof null is object)', null],
      ['true', true],
      ['an array', [BACKCHANNEL_LOGOUT_EVENT]],
      ['a string', BACKCHANNEL_LOGOUT_EVENT],
      ['an empty object', {}],
      ['without the logout member', { revoke_offline_access: true }],
      ['with the logout member null (typeof null is object)', { [BACKCHANNEL_LOGOUT_EVENT]: null }],
      ['with the logout member true', { [BACKCHANNEL_LOGOUT_EVENT]: true }],
      ['with the logout member an array', { [BACKCHANNEL_LOGOUT_EVENT]: [] }],
      ['with the logout member a string', { [BACKCHANNEL_LOGOUT_EVENT]: '{}' }],
      ['with the logout member a number', { [BACKCHANNEL_LOGOUT_EVENT]: 0 }],
    ])('refuses events %s', (_name, events) => {
      expect(reason(claims({ events }))).toBe('events_invalid');
    });
    it('does not take the logout member from the prototype chain', () => {
      const events = Object.create({ [BACKCHANNEL_LOGOUT_EVENT]: {} }) as object;
      expect(reason(claims({ events }))).toBe('events_invalid');
    });
  });

  describe('revoke_offline_access', () => {
    it("reads Keycloak's events member", () => {
      const events = { [BACKCHANNEL_LOGOUT_EVENT]: {}, revoke_offline_access: true };
      expect(check(claims({ events })).revokeOfflineAccess).toBe(true);
    });
    it("reads it inside the logout event's object too", () => {
      const events = { [BACKCHANNEL_LOGOUT_EVENT]: { revoke_offline_access: true } };
      expect(check(claims({ events })).revokeOfflineAccess).toBe(true);
    });
    it.each([false, 'true', 1, null])('is false for %j', (value) => {
      const events = { [BACKCHANNEL_LOGOUT_EVENT]: {}, revoke_offline_access: value };
      expect(check(claims({ events })).revokeOfflineAccess).toBe(false);
    });
    it('ignores a top-level claim (no OP is known to send it there)', () => {
      expect(check(claims({ revoke_offline_access: true })).revokeOfflineAccess).toBe(false);
    });
  });

  describe('nonce', () => {
    it.each([
      ['a string', 'n-0S6_WzA2Mj'],
      ['null', null],
      ['an empty string', ''],
      ['false', false],
    ])('refuses a nonce that is %s', (_name, nonce) => {
      expect(reason(claims({ nonce }))).toBe('nonce_present');
    });
    it('accepts a token without nonce', () => expect(() => check(claims())).not.toThrow());
  });

  describe('sid and sub', () => {
    it('accepts sid only, sub only, and both', () => {
      expect(check(claims({ sub: undefined }))).toMatchObject({ sid: SID });
      expect(check(claims({ sub: undefined })).sub).toBeUndefined();
      expect(check(claims({ sid: undefined }))).toMatchObject({ sub: SUB });
      expect(check(claims({ sid: undefined })).sid).toBeUndefined();
      expect(check(claims())).toMatchObject({ sid: SID, sub: SUB });
    });
    it('refuses neither', () => {
      expect(reason(claims({ sid: undefined, sub: undefined }))).toBe('sid_or_sub_missing');
    });
    it.each([
      ['sid empty', { sid: '' }],
      ['sid null', { sid: null }],
      ['sid a number', { sid: 1 }],
      ['sid an object', { sid: { id: SID } }],
      ['sub empty', { sub: '' }],
      ['sub null', { sub: null }],
      ['sub an array', { sub: [SUB] }],
      ['sid null, no sub', { sid: null, sub: undefined }],
    ])('refuses %s', (_name, overrides) => {
      expect(reason(claims(overrides))).toBe('claim_type_invalid');
    });
  });

  describe('unknown claims', () => {
    it("ignores them (Keycloak's typ: Logout, nested objects)", () => {
      expect(() => check(claims({ typ: 'Logout', foo: { bar: [1, 2] }, azp: 'x' }))).not.toThrow();
    });
  });

  it('never puts claim values in the message', () => {
    const secret = 'secret-session-value';
    for (const overrides of [
      { sid: secret, iss: 'https://x' },
      { sub: secret, aud: secret },
      { sid: secret, sub: secret, jti: '' },
      { sid: secret, nonce: secret },
    ]) {
      try {
        check(claims(overrides));
        throw new Error('expected a rejection');
      } catch (error) {
        expect((error as Error).message).not.toContain(secret);
        expect((error as Error).message).not.toContain('https://x');
      }
    }
  });
});
