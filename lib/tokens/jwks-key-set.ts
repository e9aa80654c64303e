import { readBoundedText } from '../http-client/read-bounded-text';
import {
  createLocalJWKSet,
  errors,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWSHeaderParameters,
  type JWTVerifyGetKey,
} from 'jose';
import { isJsonObject } from './logout-token.rules';

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
}

/** A JWKS-backed key resolver with the library's fetch policy. */
export interface OidcKeySet extends JWTVerifyGetKey {
  /** Fetches the JWKS again (rate-limited and single-flight like any refetch); rejects when it fails. */
  reload(): Promise<void>;
  /** The number of JWKS fetches started so far. */
  readonly fetchCount: number;
  /** The keys currently cached, if any. */
  jwks(): JSONWebKeySet | undefined;
}

/**
 * The OP's JWKS could not be had: network error, timeout, non-200 answer, redirect, oversized or
 * invalid body. Only the JWKS URL's origin and path appear in the message.
 *
 * @internal
 */
export class JwksUnavailableError extends errors.JOSEError {
  static override code = 'ERR_JWKS_UNAVAILABLE';
  override code = 'ERR_JWKS_UNAVAILABLE';
}

/**
 * The JWKS has a key with the token's `kid`, but not one usable with the token's `alg` (another key
 * family, another curve, or the JWK names another `alg`). A subclass of jose's `JWKSNoMatchingKey`.
 *
 * @internal
 */
export class JwksKeyAlgorithmMismatchError extends errors.JWKSNoMatchingKey {}

interface FetchRun {
  /** 1-based sequence number of the fetch. */
  readonly index: number;
  readonly promise: Promise<void>;
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
 * Errors: jose's `JWKSNoMatchingKey` (no key even after a refetch; {@link JwksKeyAlgorithmMismatchError}
 * when the `kid` exists for another algorithm), {@link JwksUnavailableError} or jose's `JWKSTimeout`
 * when the key is not cached and the JWKS cannot be fetched.
 *
 * @internal
 */
export function createOidcKeySet(jwksUri: URL, options: OidcKeySetOptions): OidcKeySet {
  const href = new URL(jwksUri.href).href;
  const where = `${jwksUri.origin}${jwksUri.pathname}`;
  const timeoutMs = options.timeoutMs;
  const cooldownMs = options.cooldownMs ?? DEFAULT_JWKS_COOLDOWN_MS;
  const cacheMaxAgeMs = options.cacheMaxAgeMs ?? DEFAULT_JWKS_CACHE_MAX_AGE_MS;
  const maxBytes = options.maxResponseBytes ?? DEFAULT_JWKS_MAX_RESPONSE_BYTES;
  const fetchImpl = options.fetch ?? fetch;
  for (const [name, value] of Object.entries({ timeoutMs, cooldownMs, cacheMaxAgeMs, maxBytes })) {
    if (!Number.isFinite(value) || value < 0) {
      throw new TypeError(`createOidcKeySet: ${name} must be a finite non-negative number`);
    }
  }

  let local: ReturnType<typeof createLocalJWKSet> | undefined;
  let snapshot: JSONWebKeySet | undefined;
  /** Sequence number of the fetch whose keys are in `local` (0: none). */
  let appliedIndex = 0;
  let fetchedAt = Number.NEGATIVE_INFINITY;
  /** Fetches started so far; the last one's start time. */
  let started = 0;
  let lastStartAt = Number.NEGATIVE_INFINITY;
  let inflight: FetchRun | undefined;
  /** The next fetch, waiting for the cooldown (or for `inflight`) before it starts. */
  let next: Promise<FetchRun> | undefined;

  const startFetch = (): FetchRun => {
    started += 1;
    lastStartAt = Date.now();
    const index = started;
    const promise = download(href, where, timeoutMs, maxBytes, fetchImpl).then(
      (jwks) => {
        const set = createLocalJWKSet(jwks);
        // A slower, older fetch never overwrites the keys of a newer one.
        if (index > appliedIndex) {
          local = set;
          snapshot = jwks;
          appliedIndex = index;
          fetchedAt = Date.now();
        }
      },
      (error: unknown) => {
        throw error instanceof errors.JOSEError
          ? error
          : new JwksUnavailableError(`JWKS at ${where} could not be fetched`, { cause: error });
      },
    );
    const run: FetchRun = { index, promise };
    inflight = run;
    void promise.then(
      () => settled(run),
      () => settled(run),
    );
    return run;
  };

  const settled = (run: FetchRun): void => {
    if (inflight === run) inflight = undefined;
  };

  /** The first fetch started after fetch number `after`: the running one, the scheduled one, or a new one. */
  const fetchAfter = async (after: number): Promise<void> => {
    if (inflight && inflight.index > after) return inflight.promise;
    next ??= (async () => {
      await Promise.resolve(); // `next` is assigned before this body goes on
      while (inflight) await inflight.promise.catch(() => undefined);
      const wait = lastStartAt + cooldownMs - Date.now();
      if (wait > 0) await sleep(wait);
      // Cleared in the tick the fetch starts: tokens arriving later need the fetch after it.
      next = undefined;
      return startFetch();
    })();
    const run = await next;
    return run.promise;
  };

  const backgroundRefresh = (): void => {
    if (inflight || next || Date.now() < lastStartAt + cooldownMs) return;
    startFetch().promise.catch(() => {
      // Stale keys keep serving; the next use after the cooldown tries again.
    });
  };

  type Key = Awaited<ReturnType<ReturnType<typeof createLocalJWKSet>>>;

  /** The cached key for the token, or undefined when the cache has none (or no keys yet). */
  const attempt = async (
    header: JWSHeaderParameters,
    token: FlattenedJWSInput,
  ): Promise<Key | undefined> => {
    if (!local) return undefined;
    try {
      return await local(header, token);
    } catch (error) {
      if (error instanceof errors.JWKSNoMatchingKey) return undefined;
      throw error;
    }
  };

  const getKey = (header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<Key> => {
    const arrival = started;
    const cached = local;
    if (!cached) return missingKey(header, token, arrival);
    if (Date.now() - fetchedAt > cacheMaxAgeMs) backgroundRefresh();
    // The usual case, a cached key, without any further async frame.
    return cached(header, token).catch((error: unknown) => {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      return missingKey(header, token, arrival);
    });
  };

  /** The key is not in the cache (or there are no keys yet): wait for a fetch that may bring it. */
  const missingKey = async (
    header: JWSHeaderParameters,
    token: FlattenedJWSInput,
    arrival: number,
  ): Promise<Key> => {
    let key: Key | undefined;
    // A fetch already running may bring the key; it cannot prove its absence (it started earlier).
    const running = inflight;
    if (running && running.index <= arrival) {
      await running.promise.catch(() => undefined);
      key = await attempt(header, token);
      if (key) return key;
    }
    // Only a fetch that started after the token arrived can prove the key is not published.
    if (appliedIndex <= arrival) {
      await fetchAfter(arrival);
      key = await attempt(header, token);
      if (key) return key;
    }
    const kid = header.kid;
    if (typeof kid === 'string' && snapshot?.keys.some((jwk) => jwk.kid === kid)) {
      throw new JwksKeyAlgorithmMismatchError(
        "the OP's key with this kid is not usable with the token's alg",
      );
    }
    throw new errors.JWKSNoMatchingKey();
  };

  return Object.defineProperties(getKey, {
    reload: { value: () => fetchAfter(started) },
    fetchCount: { get: () => started, enumerable: true },
    jwks: { value: () => (snapshot ? structuredClone(snapshot) : undefined) },
  }) as unknown as OidcKeySet;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** One bounded GET of the JWKS; resolves with a structurally valid JWK set. */
async function download(
  href: string,
  where: string,
  timeoutMs: number,
  maxBytes: number,
  fetchImpl: typeof fetch,
): Promise<JSONWebKeySet> {
  const signal = AbortSignal.timeout(timeoutMs);
  const unavailable = (why: string, cause?: unknown) =>
    new JwksUnavailableError(`JWKS at ${where}: ${why}`, { cause });
  const timedOut = (cause: unknown) =>
    new errors.JWKSTimeout(`JWKS at ${where}: no answer within ${timeoutMs} ms`, { cause });
  let response: Response;
  try {
    response = await fetchImpl(href, {
      method: 'GET',
      redirect: 'manual',
      signal,
      headers: { accept: 'application/jwk-set+json, application/json' },
    });
  } catch (error) {
    throw signal.aborted ? timedOut(error) : unavailable('request failed', error);
  }
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => undefined);
    throw unavailable(`HTTP ${response.status} (200 expected; redirects are not followed)`);
  }
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw unavailable(`response larger than ${maxBytes} bytes`);
  }
  let text: string | undefined;
  try {
    text = await readBoundedText(response, maxBytes);
  } catch (error) {
    throw signal.aborted ? timedOut(error) : unavailable('reading the response failed', error);
  }
  if (text === undefined) throw unavailable(`response larger than ${maxBytes} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw unavailable('the response is not JSON');
  }
  if (!isJsonObject(json) || !Array.isArray(json.keys) || !json.keys.every(isJsonObject)) {
    throw unavailable('the response is not a JWK set');
  }
  return json as unknown as JSONWebKeySet;
}
