import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { compactVerify, createRemoteJWKSet, errors } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OidcDiscoveryService } from '../../lib/services/oidc-discovery.service';
import type {
  ResolvedClientRegistration,
  ResolvedOidcLogoutOptions,
} from '../../lib/options/resolved-oidc-logout-options';
import { JwksKeyAlgorithmMismatchError } from '../../lib/tokens/jwks-errors';
import {
  createOidcKeySet,
  DEFAULT_JWKS_COOLDOWN_MS,
  type OidcKeySet,
  type OidcKeySetOptions,
} from '../../lib/tokens/jwks-key-set';
import { LogoutTokenError, type LogoutTokenRejection } from '../../lib/tokens/logout-token.error';
import { verifyLogoutToken } from '../../lib/tokens/logout-token.verifier';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import type { TestKey } from '../fixtures/keys';
import { signLogoutToken } from '../fixtures/tokens';

const CLIENT_ID = 'test-client';
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe('createOidcKeySet: the JWKS fetch policy, against the fake OP', () => {
  let op: FakeOp;
  beforeEach(async () => {
    op = await startFakeOp();
  });
  afterEach(() => op.close());

  const keySet = (options: Partial<OidcKeySetOptions> = {}): OidcKeySet =>
    createOidcKeySet(new URL(op.jwksUri), { timeoutMs: 1_000, cooldownMs: 300, ...options });

  /** A valid logout token signed with `key` under `kid` (default the key's). */
  const token = (key: TestKey = op.keys.rsa, kid?: string) =>
    signLogoutToken(op.keys, { issuer: op.issuer, clientId: CLIENT_ID, key, kid });

  const verify = (jwt: string, keys: OidcKeySet, algorithms = ['RS256', 'ES256']) =>
    verifyLogoutToken(jwt, {
      issuer: op.issuer,
      clientId: CLIENT_ID,
      algorithms,
      keys,
      clockToleranceSeconds: 30,
      legacy: false,
      legacyMaxAgeSeconds: 300,
    });

  /** The rejection reason of a verification (fails the test when it resolves). */
  const reasonOf = async (pending: Promise<unknown>): Promise<LogoutTokenRejection> => {
    const error = await pending.then(
      () => {
        throw new Error('expected a rejection');
      },
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LogoutTokenError);
    return (error as LogoutTokenError).reason;
  };

  it('fetches once and then serves known kids from the cache', async () => {
    const keys = keySet();
    await expect(verify(await token(), keys)).resolves.toMatchObject({ clientId: CLIENT_ID });
    for (let i = 0; i < 5; i += 1) {
      await verify(await token(i % 2 ? op.keys.ec : op.keys.rsa), keys);
    }
    expect(keys.fetchCount).toBe(1);
    expect(op.count('jwks')).toBe(1);
  });

  it('fetches the JWKS once on the first use of concurrent tokens (cold cache)', async () => {
    const keys = keySet();
    const tokens = await Promise.all(Array.from({ length: 20 }, () => token()));
    await Promise.all(tokens.map((t) => verify(t, keys)));
    expect(op.count('jwks')).toBe(1);
  });

  it('refetches exactly once for an unknown kid, then answers key_not_found', async () => {
    const keys = keySet();
    await verify(await token(), keys);
    await sleep(350);
    expect(await reasonOf(verify(await token(op.keys.rsaUnpublished), keys))).toBe('key_not_found');
    expect(op.count('jwks')).toBe(2);
  });

  it('picks up a key rotated in after the last fetch with one refetch', async () => {
    const keys = keySet();
    await verify(await token(), keys);
    await sleep(350);
    const rotated = await op.rotateKeys({ alg: 'ES256' });
    await expect(verify(await token(rotated), keys)).resolves.toBeDefined();
    await verify(await token(rotated), keys);
    expect(op.count('jwks')).toBe(2);
  });

  it('serves 50 concurrent unknown kids with a single fetch', async () => {
    const keys = keySet();
    await verify(await token(), keys);
    await sleep(350);
    const tokens = await Promise.all(
      Array.from({ length: 50 }, (_, i) => token(op.keys.rsaUnpublished, `unknown-${i}`)),
    );
    const reasons = await Promise.all(tokens.map((t) => reasonOf(verify(t, keys))));
    expect(new Set(reasons)).toEqual(new Set(['key_not_found']));
    expect(op.count('jwks')).toBe(2);
  });

  it('verifies 50 concurrent tokens of a freshly rotated key with a single fetch', async () => {
    const keys = keySet();
    await verify(await token(), keys);
    await sleep(350);
    const rotated = await op.rotateKeys();
    const tokens = await Promise.all(Array.from({ length: 50 }, () => token(rotated)));
    await Promise.all(tokens.map((t) => verify(t, keys)));
    expect(op.count('jwks')).toBe(2);
  });

  it(
    `limits a 10 s flood of unknown kids to ceil(10 s / ${DEFAULT_JWKS_COOLDOWN_MS} ms) + 1 fetches`,
    { timeout: 30_000 },
    async () => {
      const keys = keySet({ cooldownMs: DEFAULT_JWKS_COOLDOWN_MS });
      const forged = await token(op.keys.rsaUnpublished, 'flood');
      const started = Date.now();
      const pending: Promise<number>[] = [];
      while (Date.now() - started < 10_000) {
        const sent = Date.now();
        pending.push(
          reasonOf(verify(forged, keys)).then((reason) => {
            expect(reason).toBe('key_not_found');
            return Date.now() - sent;
          }),
        );
        await sleep(25);
      }
      const waits = await Promise.all(pending);
      const limit = Math.ceil(10_000 / DEFAULT_JWKS_COOLDOWN_MS) + 1;
      expect(pending.length).toBeGreaterThan(100);
      expect(op.count('jwks')).toBeLessThanOrEqual(limit);
      // It keeps refetching at the allowed pace (not one fetch and then silence).
      expect(op.count('jwks')).toBeGreaterThanOrEqual(limit - 1);
      // No token waits longer than a cooldown plus a fetch.
      expect(Math.max(...waits)).toBeLessThan(DEFAULT_JWKS_COOLDOWN_MS + 1_000);
    },
  );

  it('waits for the cooldown instead of losing a token of a key rotated in just after a fetch', async () => {
    const keys = keySet({ cooldownMs: DEFAULT_JWKS_COOLDOWN_MS });
    await verify(await token(), keys);
    const fetchedAt = Date.now();
    const rotated = await op.rotateKeys({ retire: true });
    const jwt = await token(rotated);
    await expect(verify(jwt, keys)).resolves.toBeDefined();
    const waited = Date.now() - fetchedAt;
    expect(waited).toBeGreaterThanOrEqual(DEFAULT_JWKS_COOLDOWN_MS - 100);
    expect(waited).toBeLessThan(DEFAULT_JWKS_COOLDOWN_MS + 1_000);
    expect(op.count('jwks')).toBe(2);

    // jose's remote set with the same cooldown rejects that token at once: the logout would be lost.
    const jose = createRemoteJWKSet(new URL(op.jwksUri), {
      cooldownDuration: DEFAULT_JWKS_COOLDOWN_MS,
    });
    await compactVerify(await token(rotated), jose);
    const next = await op.rotateKeys();
    await expect(compactVerify(await token(next), jose)).rejects.toBeInstanceOf(
      errors.JWKSNoMatchingKey,
    );
  });

  it('keeps verifying known kids from the cache while the JWKS endpoint fails', async () => {
    const keys = keySet({ timeoutMs: 300 });
    await verify(await token(), keys);
    op.controls.failJwks = 503;
    await sleep(350);
    await expect(verify(await token(op.keys.ec), keys)).resolves.toBeDefined();
    const started = Date.now();
    expect(await reasonOf(verify(await token(op.keys.rsaUnpublished), keys))).toBe(
      'jwks_unavailable',
    );
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(op.count('jwks')).toBe(2);
  });

  it('keeps serving stale keys while the JWKS hangs, refreshing in the background', async () => {
    const keys = keySet({ timeoutMs: 1_000, cacheMaxAgeMs: 100, cooldownMs: 200 });
    await verify(await token(), keys);
    op.controls.jwksDelayMs = 10_000;
    await sleep(250);
    for (let i = 0; i < 5; i += 1) {
      const jwt = await token(i % 2 ? op.keys.ec : op.keys.rsa);
      const started = Date.now();
      await expect(verify(jwt, keys)).resolves.toBeDefined();
      // No waiting for the (hanging) background refresh.
      expect(Date.now() - started).toBeLessThan(500);
    }
    // One background refresh for the stale cache, still hanging: no second one meanwhile.
    expect(keys.fetchCount).toBe(2);
    // An unknown kid waits for it, then for one more fetch after the cooldown: bounded.
    const started = Date.now();
    expect(await reasonOf(verify(await token(op.keys.rsaUnpublished), keys))).toBe(
      'jwks_unavailable',
    );
    expect(Date.now() - started).toBeLessThan(200 + 2 * 1_000 + 500);
    expect(keys.fetchCount).toBe(3);
    op.controls.jwksDelayMs = 0;
    await sleep(250);
    const rotated = await op.rotateKeys();
    await expect(verify(await token(rotated), keys)).resolves.toBeDefined();
  });

  it('keeps serving cached keys while the OP is down altogether', async () => {
    const keys = keySet({ timeoutMs: 300, cacheMaxAgeMs: 100, cooldownMs: 200 });
    await verify(await token(), keys);
    await op.stop();
    await sleep(250);
    await expect(verify(await token(), keys)).resolves.toBeDefined();
    expect(await reasonOf(verify(await token(op.keys.rsaUnpublished), keys))).toBe(
      'jwks_unavailable',
    );
    await expect(verify(await token(op.keys.ec), keys)).resolves.toBeDefined();
    await op.start();
    await sleep(250);
    const rotated = await op.rotateKeys();
    await expect(verify(await token(rotated), keys)).resolves.toBeDefined();
  });

  it('answers jwks_unavailable within the timeout when the JWKS hangs (cold cache)', async () => {
    const keys = keySet({ timeoutMs: 300 });
    op.controls.jwksDelayMs = 10_000;
    const started = Date.now();
    expect(await reasonOf(verify(await token(), keys))).toBe('jwks_unavailable');
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(1_000);
    op.controls.jwksDelayMs = 0;
  });

  it('bounds an unknown kid by cooldown plus timeout when the JWKS hangs (warm cache)', async () => {
    const keys = keySet({ timeoutMs: 300, cooldownMs: 500 });
    await verify(await token(), keys);
    op.controls.jwksDelayMs = 10_000;
    const started = Date.now();
    const [a, b] = await Promise.all([
      reasonOf(verify(await token(op.keys.rsaUnpublished), keys)),
      reasonOf(verify(await token(op.keys.rsaUnpublished, 'other'), keys)),
    ]);
    expect([a, b]).toEqual(['jwks_unavailable', 'jwks_unavailable']);
    expect(Date.now() - started).toBeLessThan(500 + 300 + 500);
    expect(op.count('jwks')).toBe(2);
    // Known kids still verify while the endpoint hangs.
    await expect(verify(await token(op.keys.ec), keys)).resolves.toBeDefined();
    op.controls.jwksDelayMs = 0;
  });

  it('uses a JWK that names an alg only for that alg', async () => {
    const keys = keySet();
    // rsa-1 is published with alg RS256: a PS256 token under its kid is refused, even though
    // PS256 is allowed and the RSA key could verify it.
    const ps = await signLogoutToken(op.keys, {
      issuer: op.issuer,
      clientId: CLIENT_ID,
      alg: 'PS256',
      key: op.keys.rsaPs,
      kid: 'rsa-1',
    });
    expect(await reasonOf(verify(ps, keys, ['RS256', 'PS256']))).toBe('alg_not_allowed');
    await expect(
      keys({ alg: 'PS256', kid: 'rsa-1' }, { payload: '', signature: '' }),
    ).rejects.toBeInstanceOf(JwksKeyAlgorithmMismatchError);
    // An RSA key published for PS256 is not used for RS256, even with both allowed.
    op.publish({ ...op.keys.rsa.publicJwk, kid: 'rsa-for-ps', alg: 'PS256' });
    await keys.reload();
    const rs = await token(op.keys.rsa, 'rsa-for-ps');
    expect(await reasonOf(verify(rs, keys, ['RS256', 'PS256']))).toBe('alg_not_allowed');
    // A key of another family under the kid: RS256 with the EC key's kid.
    expect(await reasonOf(verify(await token(op.keys.rsa, 'ec-1'), keys))).toBe('alg_not_allowed');
    // Without alg in the JWK, the allow-list alone decides.
    op.publish({ ...op.keys.rsaPs.publicJwk, kid: 'rsa-no-alg', alg: undefined });
    await keys.reload();
    const noAlg = await signLogoutToken(op.keys, {
      issuer: op.issuer,
      clientId: CLIENT_ID,
      alg: 'PS256',
      key: op.keys.rsaPs,
      kid: 'rsa-no-alg',
    });
    await expect(verify(noAlg, keys, ['RS256', 'PS256'])).resolves.toBeDefined();
    expect(await reasonOf(verify(noAlg, keys))).toBe('alg_not_allowed');
  });

  it('reload() is rate-limited and single-flight', async () => {
    const keys = keySet({ cooldownMs: 300 });
    await Promise.all([keys.reload(), keys.reload(), keys.reload()]);
    expect(op.count('jwks')).toBe(1);
    const started = Date.now();
    await keys.reload();
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(op.count('jwks')).toBe(2);
    expect(keys.jwks()?.keys.map((k) => k.kid)).toContain('rsa-1');
  });
});

describe('createOidcKeySet: what the JWKS endpoint must answer', () => {
  let server: Server;
  let base: string;
  let answer: (res: import('node:http').ServerResponse) => void;
  beforeEach(async () => {
    server = createServer((_req, res) => answer(res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  });

  const load = () =>
    createOidcKeySet(new URL(`${base}/jwks`), { timeoutMs: 500, cooldownMs: 0 }).reload();

  it('does not follow redirects', async () => {
    let redirected = 0;
    answer = (res) => {
      res.writeHead(302, { location: `${base}/elsewhere` });
      res.end();
    };
    server.on('request', (req) => {
      if (req.url === '/elsewhere') redirected += 1;
    });
    await expect(load()).rejects.toThrow(/HTTP 302/);
    expect(redirected).toBe(0);
  });

  it('refuses a response over 512 KiB, declared or streamed', async () => {
    const big = JSON.stringify({ keys: [{ kty: 'oct', k: 'A'.repeat(600 * 1024) }] });
    answer = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(big);
    };
    await expect(load()).rejects.toThrow(/larger than 524288 bytes/);
    answer = (res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      for (let i = 0; i < 10; i += 1) res.write(big.slice(i * 70_000, (i + 1) * 70_000));
      res.end(big.slice(700_000));
    };
    await expect(load()).rejects.toThrow(/larger than 524288 bytes/);
  });

  it.each([
    ['not JSON', 'nope', /not JSON/],
    ['not a JWK set', '{"keys": {}}', /not a JWK set/],
    ['an array', '[]', /not a JWK set/],
    ['a JWK set with a non-object key', '{"keys": [1]}', /not a JWK set/],
  ])('refuses a body that is %s', async (_name, body, message) => {
    answer = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    };
    await expect(load()).rejects.toThrow(message);
  });

  it('refuses a non-200 answer', async () => {
    answer = (res) => {
      res.writeHead(204);
      res.end();
    };
    await expect(load()).rejects.toThrow(/HTTP 204/);
  });
});

describe('OidcDiscoveryService.getKeySet', () => {
  it('uses the shared policy: a key rotated in after the first fetch is found', async () => {
    const op = await startFakeOp();
    try {
      const registration = {
        registrationId: 'main',
        issuer: op.issuer,
        clientId: CLIENT_ID,
        discovery: true,
      } as unknown as ResolvedClientRegistration;
      const service = new OidcDiscoveryService({
        clients: [registration],
        httpTimeoutMs: 1_000,
      } as unknown as ResolvedOidcLogoutOptions);
      const keys = (await service.getKeySet(registration)) as OidcKeySet;
      expect(await service.getKeySet(registration)).toBe(keys);
      const first = await signLogoutToken(op.keys, { issuer: op.issuer, clientId: CLIENT_ID });
      await compactVerify(first, keys);
      const rotated = await op.rotateKeys();
      const second = await signLogoutToken(op.keys, {
        issuer: op.issuer,
        clientId: CLIENT_ID,
        key: rotated,
      });
      await expect(compactVerify(second, keys)).resolves.toBeDefined();
      expect(keys.fetchCount).toBe(2);
      expect(op.count('jwks')).toBe(2);
    } finally {
      await op.close();
    }
  });
});
