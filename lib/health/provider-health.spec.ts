import { describe, expect, it } from 'vitest';
import { OidcLogoutError } from '../errors/oidc-logout.error';
import type { ResolvedClientRegistration } from '../options/resolved-oidc-logout-options';
import type { OidcProviderState } from '../services/oidc-discovery.service';
import type { JwksFreshness } from '../tokens/jwks-cache';
import { JwksUnavailableError } from '../tokens/jwks-errors';
import { checkProvider, discoveryHealth, jwksHealth, type ProviderAccess } from './provider-health';

const NOW = Date.parse('2030-01-01T00:00:00Z');
const MINUTE = 60_000;
const registration = { registrationId: 'main', discovery: true } as ResolvedClientRegistration;
const discoveryFailure = new OidcLogoutError('ERR_DISCOVERY_FAILED', 'discovery failed: HTTP 500');

const state = (over: Partial<OidcProviderState> = {}): OidcProviderState => ({
  discovery: true,
  hasMetadata: true,
  fetchedAt: NOW - MINUTE,
  failedAt: undefined,
  failure: undefined,
  fetching: undefined,
  jwks: undefined,
  ...over,
});
const keys = (over: Partial<JwksFreshness> = {}): JwksFreshness => ({
  fetchedAt: NOW - MINUTE,
  failedAt: undefined,
  failure: undefined,
  maxAgeMs: 10 * MINUTE,
  fetching: false,
  ...over,
});
const asked = { outcome: 'value', value: {} } as const;

describe('discoveryHealth', () => {
  it('is up with metadata and no failure since, with when it was fetched', () => {
    expect(discoveryHealth(state(), asked)).toEqual({
      status: 'up',
      fetchedAt: new Date(NOW - MINUTE).toISOString(),
    });
  });

  it('is up, static, for a registration without discovery', () => {
    expect(discoveryHealth(state({ discovery: false, fetchedAt: undefined }), asked)).toEqual({
      status: 'up',
      static: true,
    });
  });

  it('is down while the latest discovery failed, even with earlier metadata in use', () => {
    expect(
      discoveryHealth(state({ failure: discoveryFailure, failedAt: NOW }), {
        outcome: 'value',
        value: {},
      }),
    ).toMatchObject({ status: 'down', reason: 'failing', error: 'ERR_DISCOVERY_FAILED' });
  });

  it('is down, not fetched, timed out or failing, without metadata', () => {
    const none = state({ hasMetadata: false, fetchedAt: undefined });
    expect(discoveryHealth(none, { outcome: 'timeout' })).toEqual({
      status: 'down',
      reason: 'timeout',
    });
    expect(discoveryHealth(none, { outcome: 'error', error: discoveryFailure })).toEqual({
      status: 'down',
      reason: 'failing',
      error: 'ERR_DISCOVERY_FAILED',
    });
  });
});

describe('jwksHealth', () => {
  it('is up for keys fetched within the age limit, with no failure since', () => {
    expect(jwksHealth(keys(), NOW)).toEqual({
      status: 'up',
      fetchedAt: new Date(NOW - MINUTE).toISOString(),
    });
    expect(jwksHealth(keys({ failedAt: NOW - 2 * MINUTE, failure: new Error() }), NOW).status).toBe(
      'up',
    );
  });

  it('is down before any key set or fetch', () => {
    expect(jwksHealth(undefined, NOW)).toEqual({ status: 'down', reason: 'not_fetched' });
    expect(jwksHealth(keys({ fetchedAt: undefined }), NOW, { outcome: 'timeout' })).toEqual({
      status: 'down',
      reason: 'timeout',
    });
  });

  it('is down when the latest fetch failed, with its code', () => {
    const failure = new JwksUnavailableError(
      'JWKS at https://op.example/jwks could not be fetched',
    );
    expect(jwksHealth(keys({ failedAt: NOW, failure }), NOW)).toMatchObject({
      status: 'down',
      reason: 'failing',
      error: 'ERR_JWKS_UNAVAILABLE',
    });
    expect(jwksHealth(keys({ fetchedAt: undefined, failedAt: NOW, failure }), NOW)).toEqual({
      status: 'down',
      reason: 'failing',
      error: 'ERR_JWKS_UNAVAILABLE',
    });
  });

  it('is down, stale, for keys older than the age limit', () => {
    expect(jwksHealth(keys({ fetchedAt: NOW - 10 * MINUTE - 1 }), NOW)).toMatchObject({
      status: 'down',
      reason: 'stale',
    });
    expect(jwksHealth(keys({ fetchedAt: NOW - 10 * MINUTE }), NOW).status).toBe('up');
  });
});

/** A discovery service whose state tests set, counting what the check asks. */
function fakeAccess(current: OidcProviderState, reload: () => Promise<void>) {
  const calls = { getMetadata: 0, reloadKeys: 0 };
  const access: ProviderAccess & { current: OidcProviderState } = {
    current,
    getMetadata: () => {
      calls.getMetadata += 1;
      return access.current.failure ? Promise.reject(access.current.failure) : Promise.resolve({});
    },
    providerState: () => access.current,
    reloadKeys: () => {
      calls.reloadKeys += 1;
      return reload();
    },
  };
  return { access, calls };
}

describe('checkProvider', () => {
  const now = () => NOW;

  it('makes no request when metadata and keys are fresh', async () => {
    const { access, calls } = fakeAccess(state({ jwks: keys() }), () => Promise.resolve());
    const health = await checkProvider(access, registration, 500, now);
    expect(health.status).toBe('up');
    expect(calls).toEqual({ getMetadata: 1, reloadKeys: 0 });
  });

  it('refetches missing keys, and is up once they came in time', async () => {
    const { access, calls } = fakeAccess(state(), () => {
      access.current = state({ jwks: keys({ fetchedAt: NOW }) });
      return Promise.resolve();
    });
    const health = await checkProvider(access, registration, 500, now);
    expect(calls.reloadKeys).toBe(1);
    expect(health).toMatchObject({ status: 'up', jwks: { status: 'up' } });
  });

  it('is down, naming the failing part, when the refetch fails', async () => {
    const failure = new JwksUnavailableError(
      'JWKS at https://op.example/jwks could not be fetched',
    );
    const { access } = fakeAccess(state({ jwks: keys({ fetchedAt: undefined }) }), () => {
      access.current = state({ jwks: keys({ fetchedAt: undefined, failedAt: NOW, failure }) });
      return Promise.reject(failure);
    });
    const health = await checkProvider(access, registration, 500, now);
    expect(health).toMatchObject({
      status: 'down',
      discovery: { status: 'up' },
      jwks: { status: 'down', reason: 'failing', error: 'ERR_JWKS_UNAVAILABLE' },
    });
  });

  it('tries no JWKS without metadata, and reports both down', async () => {
    const { access, calls } = fakeAccess(
      state({ hasMetadata: false, fetchedAt: undefined, failure: discoveryFailure, failedAt: NOW }),
      () => Promise.resolve(),
    );
    const health = await checkProvider(access, registration, 500, now);
    expect(calls.reloadKeys).toBe(0);
    expect(health).toEqual({
      status: 'down',
      discovery: { status: 'down', reason: 'failing', error: 'ERR_DISCOVERY_FAILED' },
      jwks: { status: 'down', reason: 'not_fetched' },
    });
  });

  it('answers within the timeout when the OP hangs, the refetch reported timed out', async () => {
    const { access } = fakeAccess(state(), () => new Promise<never>(() => undefined));
    const started = Date.now();
    const health = await checkProvider(access, registration, 100);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(health.jwks).toEqual({ status: 'down', reason: 'timeout' });
  });
});
