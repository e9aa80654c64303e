import { OidcLogoutOptionsError } from '../errors/oidc-logout.error';

/**
 * One part of what {@link OidcLogoutHealthIndicator} checks:
 *
 * - `'stores'`: the session store and the logout-event store answer a lookup in time;
 * - `'providers'`: per client registration, the OP's discovery metadata and JWKS are fetched, fresh
 *   and not failing;
 * - `'pendingLogouts'`: the logouts kept in memory while the store could not take them are few and
 *   recent.
 *
 * @publicApi
 */
export type OidcLogoutHealthCheck = 'stores' | 'providers' | 'pendingLogouts';

/**
 * Options of {@link OidcLogoutHealthIndicator.check}.
 *
 * @publicApi
 */
export interface OidcLogoutHealthOptions {
  /**
   * Longest wait, in milliseconds, for each store lookup and for the OPs' fetches: a part that has
   * not answered by then is reported down (`error: 'timeout'`), and the whole check answers within
   * about this time. Default 1000, or `storeTimeoutMs` when that is smaller; a store call is never
   * waited for longer than `storeTimeoutMs` anyway.
   */
  timeoutMs?: number;
  /** Most pending logouts that still report up; one more reports down. Default 100. */
  maxPendingLogouts?: number;
  /**
   * Longest time, in milliseconds, the oldest pending logout may have waited and still report up.
   * Default 60000.
   */
  maxPendingAgeMs?: number;
  /** The parts to check, at least one. Default all: `['stores', 'providers', 'pendingLogouts']`. */
  checks?: readonly OidcLogoutHealthCheck[];
}

/** The options with their defaults applied. @internal */
export interface ResolvedHealthOptions {
  timeoutMs: number;
  maxPendingLogouts: number;
  maxPendingAgeMs: number;
  checks: ReadonlySet<OidcLogoutHealthCheck>;
}

/** Default of {@link OidcLogoutHealthOptions.timeoutMs} (capped at `storeTimeoutMs`). @internal */
export const DEFAULT_HEALTH_TIMEOUT_MS = 1_000;
/** Default of {@link OidcLogoutHealthOptions.maxPendingLogouts}: a tenth of what an instance keeps. @internal */
export const DEFAULT_MAX_PENDING_LOGOUTS = 100;
/** Default of {@link OidcLogoutHealthOptions.maxPendingAgeMs}. @internal */
export const DEFAULT_MAX_PENDING_AGE_MS = 60_000;

const ALL_CHECKS: readonly OidcLogoutHealthCheck[] = ['stores', 'providers', 'pendingLogouts'];

/**
 * The options of one check with their defaults; `storeTimeoutMs` caps the default timeout.
 *
 * @throws OidcLogoutOptionsError for a value out of range or of the wrong type.
 * @internal
 */
export function resolveHealthOptions(
  options: OidcLogoutHealthOptions | undefined,
  storeTimeoutMs: number,
): ResolvedHealthOptions {
  const given = options ?? {};
  const checks: unknown = given.checks ?? ALL_CHECKS;
  if (!isCheckList(checks)) {
    throw new OidcLogoutOptionsError(
      `OidcLogoutHealthIndicator: checks must be a non-empty array of ${ALL_CHECKS.map((c) => `'${c}'`).join(', ')}`,
    );
  }
  return {
    timeoutMs: integer(
      'timeoutMs',
      given.timeoutMs,
      1,
      60_000,
      Math.min(DEFAULT_HEALTH_TIMEOUT_MS, storeTimeoutMs),
    ),
    maxPendingLogouts: integer(
      'maxPendingLogouts',
      given.maxPendingLogouts,
      0,
      Number.MAX_SAFE_INTEGER,
      DEFAULT_MAX_PENDING_LOGOUTS,
    ),
    maxPendingAgeMs: integer(
      'maxPendingAgeMs',
      given.maxPendingAgeMs,
      0,
      Number.MAX_SAFE_INTEGER,
      DEFAULT_MAX_PENDING_AGE_MS,
    ),
    checks: new Set(checks),
  };
}

function isCheckList(value: unknown): value is readonly OidcLogoutHealthCheck[] {
  return (
    Array.isArray(value) &&
    // No check at all would answer up while checking nothing.
    value.length > 0 &&
    value.every((check) => ALL_CHECKS.includes(check as OidcLogoutHealthCheck))
  );
}

function integer(name: string, value: unknown, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new OidcLogoutOptionsError(
      `OidcLogoutHealthIndicator: ${name} must be an integer between ${min} and ${max}`,
    );
  }
  return value;
}
