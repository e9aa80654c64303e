/**
 * What {@link OidcLogoutHealthIndicator.check} reports, under its key next to `status`. Only
 * states, times, counts, codes and registration ids: never a token, a session id, a sid or a sub.
 *
 * @publicApi
 */
export type OidcLogoutHealthDetails = {
  /** The two stores (with the `'stores'` check). */
  stores?: {
    sessions: OidcStoreHealth;
    logoutEvents: OidcStoreHealth;
  };
  /** Each client registration's OP, by registration id (with the `'providers'` check). */
  providers?: Record<string, OidcProviderHealth>;
  /** The logouts this instance keeps until the store takes them (with the `'pendingLogouts'` check). */
  pendingLogouts?: OidcPendingLogoutsHealth;
};

/** Up or down, as Terminus says it. @publicApi */
export type OidcHealthStatus = 'up' | 'down';

/**
 * One store's answer to a lookup of an id that cannot exist.
 *
 * @publicApi
 */
export type OidcStoreHealth = {
  status: OidcHealthStatus;
  /** How long the lookup took, or was waited for. */
  durationMs: number;
  /** Why it is down: `'timeout'`, or the error's code (`ERR_REPOSITORY_UNAVAILABLE`). */
  error?: string;
};

/**
 * One registration's OP: up when both its discovery metadata and its JWKS are.
 *
 * @publicApi
 */
export type OidcProviderHealth = {
  status: OidcHealthStatus;
  discovery: OidcFetchHealth;
  jwks: OidcFetchHealth;
};

/**
 * A document fetched from the OP (discovery metadata, JWKS).
 *
 * - `not_fetched`: never fetched yet (the OP could not be reached since the start);
 * - `failing`: the latest fetch failed (earlier metadata or keys may still be in use);
 * - `stale`: the keys are older than the cache's age limit and no refetch brought new ones in time;
 * - `timeout`: the fetch the check started did not end in time.
 *
 * @publicApi
 */
export type OidcFetchHealth = {
  status: OidcHealthStatus;
  /** When what is in use was fetched (ISO 8601). */
  fetchedAt?: string;
  /** Set for metadata from the registration's options (`discovery: false`): nothing is fetched. */
  static?: true;
  /** Why it is down. */
  reason?: 'not_fetched' | 'failing' | 'stale' | 'timeout';
  /** The code of the latest failure (`ERR_DISCOVERY_FAILED`, `ERR_JWKS_UNAVAILABLE`, ...). */
  error?: string;
};

/**
 * The logouts kept in memory because the store could not take them (`LogoutService.pendingLogouts`).
 *
 * @publicApi
 */
export type OidcPendingLogoutsHealth = {
  status: OidcHealthStatus;
  count: number;
  /** The `maxPendingLogouts` option. */
  maxCount: number;
  /** How long the oldest one has waited, when there is one. */
  oldestAgeMs?: number;
  /** The `maxPendingAgeMs` option. */
  maxAgeMs: number;
};
