import type { ResolvedClientRegistration } from '../options/resolved-oidc-logout-options';
import type { OidcLogoutHealthDetails } from './oidc-logout-health.details';
import type { ResolvedHealthOptions } from './oidc-logout-health.options';
import { pendingLogoutsHealth, type PendingLogoutsSnapshot } from './pending-logouts-health';
import { checkProvider, type ProviderAccess } from './provider-health';
import { probeStores, type ProbedStores } from './store-probe';

/** What a health check reads: the module's services and checked stores. @internal */
export interface HealthSources {
  registrations: readonly ResolvedClientRegistration[];
  sessions: Pick<ProbedStores, 'findByClientSessionId'>;
  events: Pick<ProbedStores, 'findTombstones'>;
  discovery: ProviderAccess;
  pendingLogouts(): PendingLogoutsSnapshot;
  now?: () => number;
}

/**
 * Runs the checks the options name, all at once (the whole answers within about `timeoutMs`), and
 * says whether every part is up.
 *
 * @internal
 */
export async function collectHealth(
  sources: HealthSources,
  options: ResolvedHealthOptions,
): Promise<{ healthy: boolean; details: OidcLogoutHealthDetails }> {
  const now = sources.now ?? Date.now;
  const { checks, timeoutMs } = options;
  const [stores, providers] = await Promise.all([
    checks.has('stores')
      ? probeStores(sources.sessions, sources.events, timeoutMs, now)
      : undefined,
    checks.has('providers')
      ? Promise.all(
          sources.registrations.map(
            async (registration) =>
              [
                registration.registrationId,
                await checkProvider(sources.discovery, registration, timeoutMs, now),
              ] as const,
          ),
        )
      : undefined,
  ]);
  const details: OidcLogoutHealthDetails = {};
  const statuses: string[] = [];
  if (stores) {
    details.stores = stores;
    statuses.push(stores.sessions.status, stores.logoutEvents.status);
  }
  if (providers) {
    details.providers = Object.fromEntries(providers);
    statuses.push(...providers.map(([, health]) => health.status));
  }
  if (checks.has('pendingLogouts')) {
    const pending = pendingLogoutsHealth(
      sources.pendingLogouts(),
      { maxCount: options.maxPendingLogouts, maxAgeMs: options.maxPendingAgeMs },
      now(),
    );
    details.pendingLogouts = pending;
    statuses.push(pending.status);
  }
  return { healthy: statuses.every((status) => status === 'up'), details };
}
