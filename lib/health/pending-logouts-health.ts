import type { OidcPendingLogoutsHealth } from './oidc-logout-health.details';

/** What `LogoutService.pendingLogouts` answers. @internal */
export interface PendingLogoutsSnapshot {
  count: number;
  oldestSince: number | undefined;
}

/**
 * Up while at most `maxCount` logouts are pending and the oldest has waited at most `maxAgeMs`.
 *
 * @internal
 */
export function pendingLogoutsHealth(
  pending: PendingLogoutsSnapshot,
  limits: { maxCount: number; maxAgeMs: number },
  now: number,
): OidcPendingLogoutsHealth {
  const oldestAgeMs =
    pending.oldestSince === undefined ? undefined : Math.max(0, now - pending.oldestSince);
  const down =
    pending.count > limits.maxCount || (oldestAgeMs !== undefined && oldestAgeMs > limits.maxAgeMs);
  return {
    status: down ? 'down' : 'up',
    count: pending.count,
    maxCount: limits.maxCount,
    ...(oldestAgeMs === undefined ? {} : { oldestAgeMs }),
    maxAgeMs: limits.maxAgeMs,
  };
}
