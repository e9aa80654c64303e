import { CompactEncrypt, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEGACY_LOGOUT_TOKEN_MAX_AGE_SECONDS } from '../../lib/oidc-logout.constants';
import { createOidcKeySet, type OidcKeySet } from '../../lib/tokens/jwks-key-set';
import { LogoutTokenError, type LogoutTokenRejection } from '../../lib/tokens/logout-token.error';
import {
  verifyLogoutToken,
  type LogoutTokenExpectations,
} from '../../lib/tokens/logout-token.verifier';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import {
  BACKCHANNEL_LOGOUT_EVENT,
  b64url,
  logoutTokenVariants,
  signKeycloakLogoutToken,
  signLogoutToken,
  type LogoutTokenRule,
  type VariantContext,
} from '../fixtures/tokens';

const CLIENT_ID = 'test-client';
const CLIENT_SECRET = 'a-client-secret-that-is-long-enough';
const SID = 'op-session-4f1d9c';
const SUB = 'user-8e20b7';

/** The reasons each CHECKLIST rule of the catalogue may produce. */
const RULE_REASONS: Record<LogoutTokenRule, readonly LogoutTokenRejection[]> = {
  format: ['malformed'],
  signature: ['signature_invalid', 'key_not_found'],
  alg: ['alg_not_allowed'],
  iss: ['iss_mismatch'],
  aud: ['aud_mismatch', 'claim_type_invalid'],
  iat: ['iat_missing', 'iat_in_future', 'claim_type_invalid', 'too_old', 'exp_missing'],
  exp: ['exp_missing', 'expired', 'claim_type_invalid'],
  interop: ['exp_missing'],
  jti: ['jti_missing', 'claim_type_invalid'],
  events: ['events_invalid'],
  nonce: ['nonce_present'],
  'sid-sub': ['sid_or_sub_missing', 'claim_type_invalid'],
  'unknown-claims': [],
  typ: ['unsupported_typ'],
};

/** The exact reason of each invalid variant, as [default mode, legacy mode]. */
const EXPECTED_REASONS: Record<string, readonly [LogoutTokenRejection, LogoutTokenRejection?]> = {
  'legacy: Keycloak <= 23.0.3 shape (typ JWT, no exp)': ['exp_missing'],
  'invalid: exp missing': ['exp_missing'],
  'invalid: exp missing and iat a day old': ['exp_missing', 'too_old'],
  'invalid: alg none, unsigned': ['alg_not_allowed', 'alg_not_allowed'],
  'invalid: signed with an unpublished key': ['key_not_found', 'key_not_found'],
  "invalid: unpublished key under the published kid 'rsa-1'": [
    'signature_invalid',
    'signature_invalid',
  ],
  'invalid: tampered payload (sid changed)': ['signature_invalid', 'signature_invalid'],
  'invalid: tampered signature': ['signature_invalid', 'signature_invalid'],
  'invalid: RS256 header, signature stripped': ['signature_invalid', 'signature_invalid'],
  'invalid: HS256 keyed with the client secret': ['alg_not_allowed', 'alg_not_allowed'],
  "invalid: PS256 with the published 'rsa-ps' key": ['alg_not_allowed', 'alg_not_allowed'],
  "invalid: EdDSA with the published 'ed-1' key": ['alg_not_allowed', 'alg_not_allowed'],
  "invalid: RS256 under the EC key's kid 'ec-1'": ['alg_not_allowed', 'alg_not_allowed'],
  'invalid: wrong iss': ['iss_mismatch', 'iss_mismatch'],
  'invalid: iss with trailing slash': ['iss_mismatch', 'iss_mismatch'],
  'invalid: iss missing': ['iss_mismatch', 'iss_mismatch'],
  'invalid: aud missing': ['aud_mismatch', 'aud_mismatch'],
  'invalid: aud another client': ['aud_mismatch', 'aud_mismatch'],
  'invalid: aud array without the client': ['aud_mismatch', 'aud_mismatch'],
  'invalid: iat missing': ['iat_missing', 'iat_missing'],
  'invalid: iat not a number': ['claim_type_invalid', 'claim_type_invalid'],
  'invalid: iat an hour in the future': ['iat_in_future', 'iat_in_future'],
  'invalid: exp passed 8 minutes ago': ['expired', 'expired'],
  'invalid: jti missing': ['jti_missing', 'jti_missing'],
  'invalid: events missing': ['events_invalid', 'events_invalid'],
  'invalid: events null': ['events_invalid', 'events_invalid'],
  'invalid: events true': ['events_invalid', 'events_invalid'],
  'invalid: events an array': ['events_invalid', 'events_invalid'],
  'invalid: events a string': ['events_invalid', 'events_invalid'],
  'invalid: events without the logout member': ['events_invalid', 'events_invalid'],
  'invalid: events member null': ['events_invalid', 'events_invalid'],
  'invalid: events member true': ['events_invalid', 'events_invalid'],
  'invalid: events member an array': ['events_invalid', 'events_invalid'],
  'invalid: events member a string': ['events_invalid', 'events_invalid'],
  'invalid: nonce present': ['nonce_present', 'nonce_present'],
  'invalid: neither sid nor sub': ['sid_or_sub_missing', 'sid_or_sub_missing'],
  'invalid: header typ at+jwt': ['unsupported_typ', 'unsupported_typ'],
  'invalid: header typ id_token+jwt': ['unsupported_typ', 'unsupported_typ'],
  'invalid: header typ JWT2': ['unsupported_typ', 'unsupported_typ'],
  'invalid: signed payload is a JSON array': ['malformed', 'malformed'],
  'invalid: JWE-looking 5-part string': ['malformed', 'malformed'],
  "invalid: garbage 'a.b.c'": ['malformed', 'malformed'],
  'invalid: empty string': ['malformed', 'malformed'],
  'invalid: two segments': ['malformed', 'malformed'],
  'invalid: 64 KB token with a non-JSON payload': ['malformed', 'malformed'],
};

const MODES = [
  { mode: 'default', legacy: false },
  { mode: 'legacy', legacy: true },
] as const;

describe('verifyLogoutToken over every variant of the catalogue, against a fake OP', () => {
  let op: FakeOp;
  let keys: OidcKeySet;
  let ctx: VariantContext;

  beforeAll(async () => {
    op = await startFakeOp();
    // A short cooldown: unknown-kid variants wait for one refetch each.
    keys = createOidcKeySet(new URL(op.jwksUri), { timeoutMs: 2_000, cooldownMs: 100 });
    ctx = op.context({ clientId: CLIENT_ID, sid: SID, sub: SUB, clientSecret: CLIENT_SECRET });
  });
  afterAll(() => op.close());

  const expectations = (legacy: boolean): LogoutTokenExpectations => ({
    issuer: op.issuer,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    algorithms: ['RS256', 'ES256'],
    keys,
    clockToleranceSeconds: 30,
    legacy,
    legacyMaxAgeSeconds: LEGACY_LOGOUT_TOKEN_MAX_AGE_SECONDS,
  });

  it('knows the expected reason of every invalid variant', () => {
    for (const variant of logoutTokenVariants) {
      if (!variant.valid || !variant.legacyValid) {
        expect(EXPECTED_REASONS, variant.name).toHaveProperty([variant.name]);
      }
    }
  });

  describe.each(MODES)('$mode mode', ({ legacy }) => {
    it.each(logoutTokenVariants.map((v) => [v.name, v] as const))('%s', async (name, variant) => {
      const token = await variant.build(ctx);
      const accepted = legacy ? variant.legacyValid : variant.valid;
      const result = verifyLogoutToken(token, expectations(legacy));
      if (accepted) {
        const claims = await result;
        expect(claims.issuer).toBe(op.issuer);
        expect(claims.clientId).toBe(CLIENT_ID);
        expect(claims.sid ?? claims.sub).toBeDefined();
        if (claims.sid !== undefined) expect(claims.sid).toBe(SID);
        if (claims.sub !== undefined) expect(claims.sub).toBe(SUB);
        return;
      }
      const error: unknown = await result.then(
        () => new Error('accepted an invalid token'),
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(LogoutTokenError);
      const rejection = error as LogoutTokenError;
      expect(rejection.code).toBe('ERR_LOGOUT_TOKEN_INVALID');
      expect(RULE_REASONS[variant.rule]).toContain(rejection.reason);
      const exact = EXPECTED_REASONS[name];
      const reason = legacy ? (exact?.[1] ?? exact?.[0]) : exact?.[0];
      if (reason) expect(rejection.reason).toBe(reason);
      // Never the token, never the session's identifiers.
      expect(rejection.message).not.toContain(SID);
      expect(rejection.message).not.toContain(SUB);
      if (token.length > 0) expect(rejection.message).not.toContain(token);
    });
  });

  it("reports Keycloak's revoke_offline_access", async () => {
    const legacy = await signKeycloakLogoutToken(op.keys, {
      issuer: op.issuer,
      clientId: CLIENT_ID,
      sid: SID,
      sub: SUB,
      legacy: true,
    });
    const claims = await verifyLogoutToken(legacy, expectations(true));
    expect(claims).toMatchObject({ sid: SID, sub: SUB, revokeOfflineAccess: true });
    expect(claims.exp).toBeUndefined();
    const modern = await signLogoutToken(op.keys, { issuer: op.issuer, clientId: CLIENT_ID });
    expect((await verifyLogoutToken(modern, expectations(false))).revokeOfflineAccess).toBe(false);
  });

  it('accepts HS256 keyed with the client secret only when the registration allows it', async () => {
    const token = await signLogoutToken(op.keys, {
      issuer: op.issuer,
      clientId: CLIENT_ID,
      alg: 'HS256',
      secret: CLIENT_SECRET,
    });
    const allowHs = { ...expectations(false), algorithms: ['RS256', 'HS256'] };
    await expect(verifyLogoutToken(token, allowHs)).resolves.toMatchObject({ clientId: CLIENT_ID });
    await expect(
      verifyLogoutToken(token, { ...allowHs, clientSecret: 'another-secret-of-some-length' }),
    ).rejects.toMatchObject({ reason: 'signature_invalid' });
    // HS256 listed but no secret: never verified with an empty key.
    await expect(
      verifyLogoutToken(token, { ...allowHs, clientSecret: undefined }),
    ).rejects.toMatchObject({ reason: 'alg_not_allowed' });
  });

  it('never allows none, even when listed', async () => {
    const [header = '', payload = ''] = (
      await signLogoutToken(op.keys, { issuer: op.issuer, clientId: CLIENT_ID })
    ).split('.');
    void header;
    const unsigned = `${b64url({ alg: 'none', typ: 'logout+jwt' })}.${payload}.`;
    await expect(
      verifyLogoutToken(unsigned, { ...expectations(false), algorithms: ['none', 'RS256'] }),
    ).rejects.toMatchObject({ reason: 'alg_not_allowed' });
  });

  it('refuses a b64=false (unencoded payload) token', async () => {
    const token = await signLogoutToken(op.keys, {
      issuer: op.issuer,
      clientId: CLIENT_ID,
      header: { b64: false, crit: ['b64'] },
    });
    await expect(verifyLogoutToken(token, expectations(false))).rejects.toMatchObject({
      reason: 'malformed',
    });
  });

  it('refuses a token carrying an unknown critical header', async () => {
    const token = await signLogoutToken(op.keys, {
      issuer: op.issuer,
      clientId: CLIENT_ID,
      header: { crit: ['urn:example:unknown'], 'urn:example:unknown': 1 },
    });
    await expect(verifyLogoutToken(token, expectations(false))).rejects.toMatchObject({
      reason: 'malformed',
    });
  });

  it('maps an unreachable JWKS to jwks_unavailable', async () => {
    const down = createOidcKeySet(new URL('http://127.0.0.1:9/jwks'), { timeoutMs: 500 });
    const token = await signLogoutToken(op.keys, { issuer: op.issuer, clientId: CLIENT_ID });
    await expect(
      verifyLogoutToken(token, { ...expectations(false), keys: down }),
    ).rejects.toMatchObject({ reason: 'jwks_unavailable' });
  });

  it('tries every key when a token has no kid and several keys fit', async () => {
    const rotated = await op.rotateKeys({ alg: 'RS256', kid: 'rsa-second' });
    await keys.reload();
    for (const key of [op.keys.rsa, rotated]) {
      const token = await signLogoutToken(op.keys, {
        issuer: op.issuer,
        clientId: CLIENT_ID,
        key,
        kid: null,
      });
      await expect(verifyLogoutToken(token, expectations(false))).resolves.toBeDefined();
    }
    const forged = await signLogoutToken(op.keys, {
      issuer: op.issuer,
      clientId: CLIENT_ID,
      key: op.keys.rsaUnpublished,
      kid: null,
    });
    await expect(verifyLogoutToken(forged, expectations(false))).rejects.toMatchObject({
      reason: 'signature_invalid',
    });
    op.unpublish('rsa-second');
  });
});

describe('verifyLogoutToken with encrypted logout tokens (JWE)', () => {
  let op: FakeOp;
  let keys: OidcKeySet;
  let decryptionKey: CryptoKey;
  let encryptionKey: CryptoKey;

  beforeAll(async () => {
    op = await startFakeOp();
    keys = createOidcKeySet(new URL(op.jwksUri), { timeoutMs: 2_000, cooldownMs: 100 });
    const pair = await generateKeyPair('RSA-OAEP-256', { extractable: true });
    decryptionKey = pair.privateKey;
    encryptionKey = pair.publicKey;
  });
  afterAll(() => op.close());

  const expectations = (decrypt = true): LogoutTokenExpectations => ({
    issuer: op.issuer,
    clientId: CLIENT_ID,
    algorithms: ['RS256', 'ES256'],
    keys,
    clockToleranceSeconds: 30,
    legacy: false,
    legacyMaxAgeSeconds: LEGACY_LOGOUT_TOKEN_MAX_AGE_SECONDS,
    decryptionKey: decrypt ? decryptionKey : undefined,
  });

  const jws = () =>
    signLogoutToken(op.keys, { issuer: op.issuer, clientId: CLIENT_ID, sid: SID, sub: SUB });
  const encrypt = async (
    plaintext: string,
    header: { alg: string; enc: string } = { alg: 'RSA-OAEP-256', enc: 'A256GCM' },
    key: CryptoKey | Uint8Array = encryptionKey,
  ) =>
    new CompactEncrypt(new TextEncoder().encode(plaintext))
      .setProtectedHeader({ ...header, cty: 'JWT' })
      .encrypt(key);

  it('accepts a JWE around a valid JWS when a decryption key is configured', async () => {
    const token = await encrypt(await jws());
    expect(token.split('.')).toHaveLength(5);
    await expect(verifyLogoutToken(token, expectations())).resolves.toMatchObject({
      sid: SID,
      sub: SUB,
    });
  });

  it('accepts the decryption key as a JWK too', async () => {
    const jwk = { ...(await exportJWK(decryptionKey)), alg: 'RSA-OAEP-256' };
    const token = await encrypt(await jws());
    await expect(
      verifyLogoutToken(token, { ...expectations(), decryptionKey: jwk }),
    ).resolves.toMatchObject({ sid: SID });
  });

  it('refuses a plain JWS when a decryption key is configured', async () => {
    await expect(verifyLogoutToken(await jws(), expectations())).rejects.toMatchObject({
      reason: 'encryption_required',
    });
  });

  it('refuses a JWE when no decryption key is configured', async () => {
    const token = await encrypt(await jws());
    await expect(verifyLogoutToken(token, expectations(false))).rejects.toMatchObject({
      reason: 'malformed',
    });
  });

  it('refuses a JWE encrypted to another key', async () => {
    const other = await generateKeyPair('RSA-OAEP-256');
    const token = await encrypt(await jws(), undefined, other.publicKey);
    await expect(verifyLogoutToken(token, expectations())).rejects.toMatchObject({
      reason: 'decryption_failed',
    });
  });

  it('refuses a tampered JWE', async () => {
    const parts = (await encrypt(await jws())).split('.');
    const ciphertext = parts[3] ?? '';
    parts[3] = (ciphertext.startsWith('A') ? 'B' : 'A') + ciphertext.slice(1);
    await expect(verifyLogoutToken(parts.join('.'), expectations())).rejects.toMatchObject({
      reason: 'decryption_failed',
    });
  });

  it('refuses key management algorithms outside the allow-list (RSA1_5, dir)', async () => {
    const direct = await encrypt(
      await jws(),
      { alg: 'dir', enc: 'A256GCM' },
      new Uint8Array(32).fill(7),
    );
    await expect(verifyLogoutToken(direct, expectations())).rejects.toMatchObject({
      reason: 'decryption_failed',
    });
    const header = b64url({ alg: 'RSA1_5', enc: 'A128CBC-HS256', cty: 'JWT' });
    const forged = (await encrypt(await jws())).split('.');
    forged[0] = header;
    await expect(verifyLogoutToken(forged.join('.'), expectations())).rejects.toMatchObject({
      reason: 'decryption_failed',
    });
  });

  it('refuses an encrypted token whose content is not a signed JWS', async () => {
    const claims = {
      iss: op.issuer,
      aud: CLIENT_ID,
      iat: Math.floor(Date.now() / 1000),
      exp: Math.floor(Date.now() / 1000) + 120,
      jti: 'j-1',
      sid: SID,
      events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
    };
    await expect(
      verifyLogoutToken(await encrypt(JSON.stringify(claims)), expectations()),
    ).rejects.toMatchObject({ reason: 'malformed' });
    const unsigned = `${b64url({ alg: 'none' })}.${b64url(claims)}.`;
    await expect(verifyLogoutToken(await encrypt(unsigned), expectations())).rejects.toMatchObject({
      reason: 'alg_not_allowed',
    });
  });

  it('still applies every JWS and claim rule inside the JWE', async () => {
    const bad = await signLogoutToken(op.keys, {
      issuer: op.issuer,
      clientId: CLIENT_ID,
      claims: { nonce: 'x' },
    });
    await expect(verifyLogoutToken(await encrypt(bad), expectations())).rejects.toMatchObject({
      reason: 'nonce_present',
    });
  });
});
