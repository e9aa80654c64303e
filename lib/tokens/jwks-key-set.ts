import type { JSONWebKeySet, JWTVerifyGetKey } from 'jose';
import { JwksCache, type JwksCachePolicy, type JwksFreshness } from './jwks-cache';

/** Default pause between two JWKS fetches: a flood of unknown `kid`s costs at most one fetch per 2 s. */
export const DEFAULT_JWKS_COOLDOWN_MS = 2_000;
/** Default age after which cached keys are refetched (in the background; they keep serving meanwhile). */
export const DEFAULT_JWKS_CACHE_MAX_AGE_MS = 10 * 60_000;
/** Default cap on a JWKS response body. */
export const DEFAULT_JWKS_MAX_RESPONSE_BYTES = 512 * 1024;

/** Options of {@link createOidcKeySet}. */
export interface OidcKeySetOptions {
  /** Timeout of one JWKS fetch, headers and body included. */
  timeoutMs: number;
  /** Minimum time between the starts of two fetches. Default {@link DEFAULT_JWKS_COOLDOWN_MS}. */
  cooldownMs?: number;
  /** Cached keys older than this are refetched. Default {@link DEFAULT_JWKS_CACHE_MAX_AGE_MS}. */
  cacheMaxAgeMs?: number;
  /** Cap on the response body. Default {@link DEFAULT_JWKS_MAX_RESPONSE_BYTES}. */
  maxResponseBytes?: number;
  /** The fetch implementation (tests). Default the global `fetch`. */
  fetch?: typeof fetch;
  /**
   * Called as each fetch starts; the function it returns is told of the fetch's end: `undefined`
   * when it succeeded, else its error (metrics, spans).
   */
  onFetch?: () => (error?: unknown) => void;
}

/** A JWKS-backed key resolver with the library's fetch policy. */
export interface OidcKeySet extends JWTVerifyGetKey {
  /** Fetches the JWKS again (rate-limited and single-flight like any refetch); rejects when it fails. */
  reload(): Promise<void>;
  /** The number of JWKS fetches started so far. */
  readonly fetchCount: number;
  /** The keys currently cached, if any. */
  jwks(): JSONWebKeySet | undefined;
  /** When the keys were last fetched, when a fetch last failed (read only: fetches nothing). @internal */
  freshness(): JwksFreshness;
}

/**
 * A remote JWKS with the policy back-channel logout needs (jose's `createRemoteJWKSet` waits 30 s by
 * default before refetching on an unknown `kid`, and rejects in the meantime: a logout token signed
 * with a key rotated in just after a fetch would be lost, and OPs never resend it).
 *
 * - Keys are cached and used without any request while younger than `cacheMaxAgeMs`; older keys keep
 *   serving while a background refetch runs (and forever if the OP's JWKS stays down).
 * - A token whose key is not in the cache triggers one refetch that started after the token arrived.
 *   Refetches are single-flight (concurrent tokens share one), and their starts are at least
 *   `cooldownMs` apart: a token arriving during the cooldown waits for its end and the fetch then,
 *   instead of being rejected. Its wait is bounded by the cooldown plus at most two fetch timeouts.
 * - Each fetch: GET with `timeoutMs` for headers and body, no redirects, 200 only, body capped at
 *   `maxResponseBytes`, JSON checked to be a JWK set. No retries beyond the above.
 * - Key selection is jose's `createLocalJWKSet`: `kid`, `kty`, `crv`, `use`, `key_ops`, and a JWK's
 *   own `alg` are all honoured.
 *
 * Errors: jose's `JWKSNoMatchingKey` (no key even after a refetch; `JwksKeyAlgorithmMismatchError`
 * when the `kid` exists for another algorithm), `JwksUnavailableError` or jose's `JWKSTimeout`
 * when the key is not cached and the JWKS cannot be fetched.
 *
 * @internal
 */
export function createOidcKeySet(jwksUri: URL, options: OidcKeySetOptions): OidcKeySet {
  const cache = new JwksCache(keySetPolicy(jwksUri, options));
  const getKey: JWTVerifyGetKey = (header, token) => cache.getKey(header, token);
  return Object.defineProperties(getKey, {
    reload: { value: () => cache.reload() },
    fetchCount: { get: () => cache.fetchCount, enumerable: true },
    jwks: { value: () => cache.jwks() },
    freshness: { value: () => cache.freshness() },
  }) as unknown as OidcKeySet;
}

/**
 * The options with their defaults applied.
 *
 * @throws TypeError for a time or size that is not a finite non-negative number.
 */
function keySetPolicy(jwksUri: URL, options: OidcKeySetOptions): JwksCachePolicy {
  const timeoutMs = options.timeoutMs;
  const cooldownMs = options.cooldownMs ?? DEFAULT_JWKS_COOLDOWN_MS;
  const cacheMaxAgeMs = options.cacheMaxAgeMs ?? DEFAULT_JWKS_CACHE_MAX_AGE_MS;
  const maxBytes = options.maxResponseBytes ?? DEFAULT_JWKS_MAX_RESPONSE_BYTES;
  for (const [name, value] of Object.entries({ timeoutMs, cooldownMs, cacheMaxAgeMs, maxBytes })) {
    if (!Number.isFinite(value) || value < 0) {
      throw new TypeError(`createOidcKeySet: ${name} must be a finite non-negative number`);
    }
  }
  return {
    href: new URL(jwksUri.href).href,
    where: `${jwksUri.origin}${jwksUri.pathname}`,
    timeoutMs,
    cooldownMs,
    cacheMaxAgeMs,
    maxBytes,
    fetchImpl: options.fetch ?? fetch,
    onFetch: options.onFetch,
  };
}
