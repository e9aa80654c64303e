import type { ResolvedClientRegistration } from '../options/resolved-oidc-logout-options';
import type { OidcProviderState } from '../services/oidc-discovery.service';
import type { JwksFreshness } from '../tokens/jwks-cache';
import { errorType } from '../errors/error-type';
import type { OidcFetchHealth, OidcProviderHealth } from './oidc-logout-health.details';
import { within, type Settled } from './within';

/** What the provider check needs of `OidcDiscoveryService`. @internal */
export interface ProviderAccess {
  getMetadata(registration: ResolvedClientRegistration): Promise<unknown>;
  providerState(registration: ResolvedClientRegistration): OidcProviderState;
  reloadKeys(registration: ResolvedClientRegistration): Promise<void>;
}

const iso = (epochMs: number | undefined): { fetchedAt?: string } =>
  epochMs === undefined ? {} : { fetchedAt: new Date(epochMs).toISOString() };

/**
 * The discovery part of a registration's health: up when metadata is at hand and the latest
 * discovery did not fail. `asked` is how the check's own `getMetadata` ended.
 *
 * @internal
 */
export function discoveryHealth(
  state: OidcProviderState,
  asked: Settled<unknown>,
): OidcFetchHealth {
  if (!state.discovery) return { status: 'up', static: true };
  if (state.hasMetadata && state.failure === undefined) {
    return { status: 'up', ...iso(state.fetchedAt) };
  }
  const failure = state.failure ?? (asked.outcome === 'error' ? asked.error : undefined);
  const reason = state.failure
    ? 'failing'
    : asked.outcome === 'timeout'
      ? 'timeout'
      : failure === undefined
        ? 'not_fetched'
        : 'failing';
  return {
    status: 'down',
    ...iso(state.fetchedAt),
    reason,
    ...(failure === undefined ? {} : { error: errorType(failure) }),
  };
}

/**
 * The JWKS part of a registration's health: up when keys were fetched, are younger than the
 * cache's age limit, and no fetch failed since. `reload` is how the check's own refetch ended, if
 * it started one.
 *
 * @internal
 */
export function jwksHealth(
  freshness: JwksFreshness | undefined,
  now: number,
  reload?: Settled<unknown>,
): OidcFetchHealth {
  const fetchedAt = freshness?.fetchedAt;
  const failedAt = freshness?.failedAt;
  const failure = freshness?.failure ?? (reload?.outcome === 'error' ? reload.error : undefined);
  const error = failure === undefined ? {} : { error: errorType(failure) };
  if (fetchedAt === undefined) {
    const reason =
      failure !== undefined ? 'failing' : reload?.outcome === 'timeout' ? 'timeout' : 'not_fetched';
    return { status: 'down', reason, ...error };
  }
  if (failedAt !== undefined && failedAt >= fetchedAt) {
    return { status: 'down', ...iso(fetchedAt), reason: 'failing', ...error };
  }
  if (now - fetchedAt > (freshness?.maxAgeMs ?? Number.POSITIVE_INFINITY)) {
    return { status: 'down', ...iso(fetchedAt), reason: 'stale' };
  }
  return { status: 'up', ...iso(fetchedAt) };
}

/**
 * One registration's OP, checked within `timeoutMs`: discovery is asked for (it fetches only when
 * the metadata is missing, due, or failed long enough ago to be retried: the service's own
 * policy), and the JWKS is refetched (rate-limited, single-flight) only when its keys are missing,
 * stale or failing. A check that finds everything fresh makes no request.
 *
 * @internal
 */
export async function checkProvider(
  discovery: ProviderAccess,
  registration: ResolvedClientRegistration,
  timeoutMs: number,
  now: () => number = Date.now,
): Promise<OidcProviderHealth> {
  const deadline = now() + timeoutMs;
  const left = (): number => Math.max(0, deadline - now());
  const asked = await within(discovery.getMetadata(registration), left());
  let state = discovery.providerState(registration);
  if (state.fetching) {
    // A refresh the call above started (or one running already): its outcome is the news.
    await within(state.fetching, left());
    state = discovery.providerState(registration);
  }
  const discoveryPart = discoveryHealth(state, asked);
  let jwks = jwksHealth(state.jwks, now());
  // Without metadata there is no JWKS URI to fetch from (a configured one came with getMetadata).
  if (jwks.status === 'down' && state.hasMetadata) {
    const reload = await within(discovery.reloadKeys(registration), left());
    jwks = jwksHealth(discovery.providerState(registration).jwks, now(), reload);
  }
  const status = discoveryPart.status === 'up' && jwks.status === 'up' ? 'up' : 'down';
  return { status, discovery: discoveryPart, jwks };
}
