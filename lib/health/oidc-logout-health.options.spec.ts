import { describe, expect, it } from 'vitest';
import { OidcLogoutOptionsError } from '../errors/oidc-logout.error';
import {
  DEFAULT_HEALTH_TIMEOUT_MS,
  DEFAULT_MAX_PENDING_AGE_MS,
  DEFAULT_MAX_PENDING_LOGOUTS,
  resolveHealthOptions,
  type OidcLogoutHealthOptions,
} from './oidc-logout-health.options';

describe('resolveHealthOptions', () => {
  it('applies the defaults: every check, 1 s, 100 pending logouts for at most a minute', () => {
    const resolved = resolveHealthOptions(undefined, 3_000);
    expect(resolved).toEqual({
      timeoutMs: DEFAULT_HEALTH_TIMEOUT_MS,
      maxPendingLogouts: DEFAULT_MAX_PENDING_LOGOUTS,
      maxPendingAgeMs: DEFAULT_MAX_PENDING_AGE_MS,
      checks: new Set(['stores', 'providers', 'pendingLogouts']),
    });
  });

  it('caps the default timeout at storeTimeoutMs, never a given one', () => {
    expect(resolveHealthOptions({}, 250).timeoutMs).toBe(250);
    expect(resolveHealthOptions({ timeoutMs: 5_000 }, 250).timeoutMs).toBe(5_000);
  });

  it('takes the values given, 0 pending logouts included', () => {
    const resolved = resolveHealthOptions(
      { timeoutMs: 200, maxPendingLogouts: 0, maxPendingAgeMs: 0, checks: ['stores'] },
      3_000,
    );
    expect(resolved).toMatchObject({ timeoutMs: 200, maxPendingLogouts: 0, maxPendingAgeMs: 0 });
    expect([...resolved.checks]).toEqual(['stores']);
  });

  it.each<[string, OidcLogoutHealthOptions]>([
    ['a timeout of 0', { timeoutMs: 0 }],
    ['a timeout over a minute', { timeoutMs: 60_001 }],
    ['a fractional timeout', { timeoutMs: 1.5 }],
    ['a timeout as a string', { timeoutMs: '100' as unknown as number }],
    ['a negative maximum', { maxPendingLogouts: -1 }],
    ['NaN', { maxPendingAgeMs: Number.NaN }],
    ['an unknown check', { checks: ['stores', 'disk' as 'stores'] }],
    ['checks that are no array', { checks: 'stores' as unknown as ['stores'] }],
    ['no check at all (up while checking nothing)', { checks: [] }],
  ])('refuses %s with an OidcLogoutOptionsError', (_, options) => {
    expect(() => resolveHealthOptions(options, 3_000)).toThrow(OidcLogoutOptionsError);
  });
});
