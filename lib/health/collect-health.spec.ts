import { describe, expect, it } from 'vitest';
import type { ResolvedClientRegistration } from '../options/resolved-oidc-logout-options';
import type { OidcProviderState } from '../services/oidc-discovery.service';
import { collectHealth, type HealthSources } from './collect-health';
import { resolveHealthOptions, type OidcLogoutHealthOptions } from './oidc-logout-health.options';

const NOW = Date.parse('2030-01-01T00:00:00Z');
const registrations = [
  { registrationId: 'main', discovery: true },
  { registrationId: 'partner', discovery: false },
] as ResolvedClientRegistration[];

const fresh: OidcProviderState = {
  discovery: true,
  hasMetadata: true,
  fetchedAt: NOW,
  failedAt: undefined,
  failure: undefined,
  fetching: undefined,
  jwks: {
    fetchedAt: NOW,
    failedAt: undefined,
    failure: undefined,
    maxAgeMs: 600_000,
    fetching: false,
  },
};

function sources(over: Partial<HealthSources> = {}): HealthSources {
  return {
    registrations,
    sessions: { findByClientSessionId: () => Promise.resolve(undefined) },
    events: { findTombstones: () => Promise.resolve(new Map()) },
    discovery: {
      getMetadata: () => Promise.resolve({}),
      providerState: (registration) => ({ ...fresh, discovery: registration.discovery }),
      reloadKeys: () => Promise.resolve(),
    },
    pendingLogouts: () => ({ count: 0, oldestSince: undefined }),
    now: () => NOW,
    ...over,
  };
}
const options = (given: OidcLogoutHealthOptions = {}) => resolveHealthOptions(given, 3_000);

describe('collectHealth', () => {
  it('is healthy when every part is up, and details each part', async () => {
    const { healthy, details } = await collectHealth(sources(), options());
    expect(healthy).toBe(true);
    expect(details).toEqual({
      stores: {
        sessions: { status: 'up', durationMs: 0 },
        logoutEvents: { status: 'up', durationMs: 0 },
      },
      providers: {
        main: expect.objectContaining({ status: 'up' }),
        partner: expect.objectContaining({
          status: 'up',
          discovery: { status: 'up', static: true },
        }),
      },
      pendingLogouts: { status: 'up', count: 0, maxCount: 100, maxAgeMs: 60_000 },
    });
  });

  it('is unhealthy when any one part is down: a store, a registration, the pending logouts', async () => {
    const storeDown = sources({
      events: { findTombstones: () => Promise.reject(new Error('ECONNREFUSED')) },
    });
    expect((await collectHealth(storeDown, options())).healthy).toBe(false);

    const opDown = sources({
      discovery: {
        ...sources().discovery,
        providerState: (registration) =>
          registration.registrationId === 'partner'
            ? { ...fresh, discovery: false, jwks: undefined }
            : fresh,
        reloadKeys: () => Promise.reject(new Error('fetch failed')),
      },
    });
    const op = await collectHealth(opDown, options());
    expect(op.healthy).toBe(false);
    expect(op.details.providers?.main?.status).toBe('up');
    expect(op.details.providers?.partner).toMatchObject({
      status: 'down',
      jwks: { status: 'down' },
    });

    const backlog = sources({ pendingLogouts: () => ({ count: 2, oldestSince: NOW }) });
    expect((await collectHealth(backlog, options({ maxPendingLogouts: 1 }))).healthy).toBe(false);
    expect((await collectHealth(backlog, options({ maxPendingLogouts: 2 }))).healthy).toBe(true);
  });

  it('runs only the checks named', async () => {
    let asked = 0;
    const { healthy, details } = await collectHealth(
      sources({
        sessions: { findByClientSessionId: () => (asked++, Promise.reject(new Error('down'))) },
      }),
      options({ checks: ['pendingLogouts'] }),
    );
    expect(asked).toBe(0);
    expect(healthy).toBe(true);
    expect(Object.keys(details)).toEqual(['pendingLogouts']);
  });
});
