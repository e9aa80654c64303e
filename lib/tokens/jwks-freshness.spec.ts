import { generateKeyPair, exportJWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { createOidcKeySet } from './jwks-key-set';

/** A JWKS endpoint that answers the keys or a 500, as `fail` says at each request. */
async function endpoint() {
  const { publicKey } = await generateKeyPair('ES256');
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] };
  const control = { fail: false };
  const fetchImpl = (() =>
    Promise.resolve(
      control.fail
        ? new Response('down', { status: 500 })
        : new Response(JSON.stringify(jwks), {
            status: 200,
            headers: { 'content-type': 'application/json' },
          }),
    )) as typeof fetch;
  return { control, fetchImpl };
}

describe('OidcKeySet.freshness', () => {
  it('tells when keys were fetched and when a fetch last failed, fetching nothing itself', async () => {
    const { control, fetchImpl } = await endpoint();
    const keys = createOidcKeySet(new URL('https://op.example/jwks'), {
      timeoutMs: 1_000,
      cooldownMs: 0,
      cacheMaxAgeMs: 5_000,
      fetch: fetchImpl,
    });
    expect(keys.freshness()).toEqual({
      fetchedAt: undefined,
      failedAt: undefined,
      failure: undefined,
      maxAgeMs: 5_000,
      fetching: false,
    });
    expect(keys.fetchCount).toBe(0);

    const before = Date.now();
    await keys.reload();
    const fetched = keys.freshness();
    expect(fetched.fetchedAt).toBeGreaterThanOrEqual(before);
    expect(fetched.failedAt).toBeUndefined();

    control.fail = true;
    await expect(keys.reload()).rejects.toThrow();
    const failed = keys.freshness();
    expect(failed.fetchedAt).toBe(fetched.fetchedAt);
    expect(failed.failedAt).toBeGreaterThanOrEqual(fetched.fetchedAt!);
    expect((failed.failure as { code?: string }).code).toBe('ERR_JWKS_UNAVAILABLE');

    control.fail = false;
    await keys.reload();
    expect(keys.freshness().fetchedAt).toBeGreaterThanOrEqual(failed.failedAt!);
    expect(keys.fetchCount).toBe(3);
  });
});
