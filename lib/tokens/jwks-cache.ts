import {
  createLocalJWKSet,
  errors,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWSHeaderParameters,
} from 'jose';
import { downloadJwks, type JwksRequest } from './jwks-download';
import { JwksKeyAlgorithmMismatchError, JwksUnavailableError } from './jwks-errors';

/** The fetch policy of a {@link JwksCache}, as `createOidcKeySet` resolved it. @internal */
export interface JwksCachePolicy extends JwksRequest {
  /** Minimum time between the starts of two fetches. */
  readonly cooldownMs: number;
  /** Cached keys older than this are refetched (in the background). */
  readonly cacheMaxAgeMs: number;
  /** Called as each fetch starts; what it returns is told of the fetch's end (see createOidcKeySet). */
  onFetch?: () => (error?: unknown) => void;
}

/**
 * What a health check reads of a JWKS key set, without fetching anything (epoch ms).
 *
 * @internal
 */
export interface JwksFreshness {
  /** When the keys in use were fetched; `undefined` before the first fetch that succeeded. */
  readonly fetchedAt: number | undefined;
  /** When the last fetch that failed ended; `undefined` when none has. */
  readonly failedAt: number | undefined;
  /** That fetch's error (its code says why; its message names the JWKS URL, never a token). */
  readonly failure: unknown;
  /** Keys older than this are refetched (`cacheMaxAgeMs`). */
  readonly maxAgeMs: number;
  /** Whether a fetch is running or waiting for its cooldown. */
  readonly fetching: boolean;
}

/** A key jose verifies with. @internal */
export type JwksKey = Awaited<ReturnType<ReturnType<typeof createLocalJWKSet>>>;

interface FetchRun {
  /** 1-based sequence number of the fetch. */
  readonly index: number;
  readonly promise: Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The state behind `createOidcKeySet`: the keys of the latest fetch, and the fetches (single-flight,
 * `cooldownMs` apart, a refetch on an unknown `kid` started after the token arrived). See
 * `createOidcKeySet` for the policy.
 *
 * @internal
 */
export class JwksCache {
  private local: ReturnType<typeof createLocalJWKSet> | undefined;
  private snapshot: JSONWebKeySet | undefined;
  /** Sequence number of the fetch whose keys are in `local` (0: none). */
  private appliedIndex = 0;
  private fetchedAt = Number.NEGATIVE_INFINITY;
  /** Fetches started so far; the last one's start time. */
  private started = 0;
  private lastStartAt = Number.NEGATIVE_INFINITY;
  private inflight: FetchRun | undefined;
  /** The next fetch, waiting for the cooldown (or for `inflight`) before it starts. */
  private next: Promise<FetchRun> | undefined;
  /** When the last fetch that failed ended (epoch ms), and its error. */
  private lastFailure: { at: number; error: unknown } | undefined;

  constructor(private readonly policy: JwksCachePolicy) {}

  /** The number of JWKS fetches started so far. */
  get fetchCount(): number {
    return this.started;
  }

  /** When keys were last fetched and when a fetch last failed, read only (a health check's view). */
  freshness(): JwksFreshness {
    return {
      fetchedAt: Number.isFinite(this.fetchedAt) ? this.fetchedAt : undefined,
      failedAt: this.lastFailure?.at,
      failure: this.lastFailure?.error,
      maxAgeMs: this.policy.cacheMaxAgeMs,
      fetching: this.inflight !== undefined || this.next !== undefined,
    };
  }

  /** A copy of the keys currently cached, if any. */
  jwks(): JSONWebKeySet | undefined {
    return this.snapshot ? structuredClone(this.snapshot) : undefined;
  }

  /** Fetches the JWKS again (rate-limited and single-flight like any refetch). */
  reload(): Promise<void> {
    return this.fetchAfter(this.started);
  }

  /** The key for a token: cached, else from a fetch that started after the token arrived. */
  getKey(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<JwksKey> {
    const arrival = this.started;
    const cached = this.local;
    if (!cached) return this.missingKey(header, token, arrival);
    if (Date.now() - this.fetchedAt > this.policy.cacheMaxAgeMs) this.backgroundRefresh();
    // The usual case, a cached key, without any further async frame.
    return cached(header, token).catch((error: unknown) => {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      return this.missingKey(header, token, arrival);
    });
  }

  /** The key is not in the cache (or there are no keys yet): wait for a fetch that may bring it. */
  private async missingKey(
    header: JWSHeaderParameters,
    token: FlattenedJWSInput,
    arrival: number,
  ): Promise<JwksKey> {
    let key: JwksKey | undefined;
    // A fetch already running may bring the key; it cannot prove its absence (it started earlier).
    const running = this.inflight;
    if (running && running.index <= arrival) {
      await running.promise.catch(() => undefined);
      key = await this.attempt(header, token);
      if (key) return key;
    }
    // Only a fetch that started after the token arrived can prove the key is not published.
    if (this.appliedIndex <= arrival) {
      await this.fetchAfter(arrival);
      key = await this.attempt(header, token);
      if (key) return key;
    }
    const kid = header.kid;
    if (typeof kid === 'string' && this.snapshot?.keys.some((jwk) => jwk.kid === kid)) {
      throw new JwksKeyAlgorithmMismatchError(
        "the OP's key with this kid is not usable with the token's alg",
      );
    }
    throw new errors.JWKSNoMatchingKey();
  }

  /** The cached key for the token, or undefined when the cache has none (or no keys yet). */
  private async attempt(
    header: JWSHeaderParameters,
    token: FlattenedJWSInput,
  ): Promise<JwksKey | undefined> {
    if (!this.local) return undefined;
    try {
      return await this.local(header, token);
    } catch (error) {
      if (error instanceof errors.JWKSNoMatchingKey) return undefined;
      throw error;
    }
  }

  /** The first fetch started after fetch number `after`: the running one, the scheduled one, or a new one. */
  private async fetchAfter(after: number): Promise<void> {
    if (this.inflight && this.inflight.index > after) return this.inflight.promise;
    this.next ??= (async () => {
      await Promise.resolve(); // `next` is assigned before this body goes on
      while (this.inflight) await this.inflight.promise.catch(() => undefined);
      const wait = this.lastStartAt + this.policy.cooldownMs - Date.now();
      if (wait > 0) await sleep(wait);
      // Cleared in the tick the fetch starts: tokens arriving later need the fetch after it.
      this.next = undefined;
      return this.startFetch();
    })();
    const run = await this.next;
    return run.promise;
  }

  private backgroundRefresh(): void {
    if (this.inflight || this.next || Date.now() < this.lastStartAt + this.policy.cooldownMs) {
      return;
    }
    this.startFetch().promise.catch(() => {
      // Stale keys keep serving; the next use after the cooldown tries again.
    });
  }

  private startFetch(): FetchRun {
    this.started += 1;
    this.lastStartAt = Date.now();
    const index = this.started;
    const ended = this.policy.onFetch?.();
    const promise = downloadJwks(this.policy).then(
      (jwks) => {
        ended?.();
        this.apply(index, jwks);
      },
      (error: unknown) => {
        ended?.(error ?? new Error('JWKS fetch failed'));
        const failure =
          error instanceof errors.JOSEError
            ? error
            : new JwksUnavailableError(`JWKS at ${this.policy.where} could not be fetched`, {
                cause: error,
              });
        this.lastFailure = { at: Date.now(), error: failure };
        throw failure;
      },
    );
    const run: FetchRun = { index, promise };
    this.inflight = run;
    const settled = () => {
      if (this.inflight === run) this.inflight = undefined;
    };
    void promise.then(settled, settled);
    return run;
  }

  /** Takes in the keys of fetch number `index`, unless a newer fetch's are in already. */
  private apply(index: number, jwks: JSONWebKeySet): void {
    const set = createLocalJWKSet(jwks);
    // A slower, older fetch never overwrites the keys of a newer one.
    if (index > this.appliedIndex) {
      this.local = set;
      this.snapshot = jwks;
      this.appliedIndex = index;
      this.fetchedAt = Date.now();
    }
  }
}
