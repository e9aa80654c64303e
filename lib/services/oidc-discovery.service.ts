import { readBoundedText } from '../http-client/read-bounded-text';
import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import type { JWTVerifyGetKey } from 'jose';
import { OidcLogoutError } from '../errors/oidc-logout.error';
import { errorType } from '../errors/error-type';
import { DISCOVERY_RETRY_INTERVAL_MS } from '../oidc-logout.constants';
import { OIDC_LOGOUT_RESOLVED_OPTIONS } from '../oidc-logout.module-definition';
import type {
  ResolvedClientRegistration,
  ResolvedOidcLogoutOptions,
} from '../options/resolved-oidc-logout-options';
import {
  createOidcKeySet,
  DEFAULT_JWKS_CACHE_MAX_AGE_MS,
  DEFAULT_JWKS_COOLDOWN_MS,
  type OidcKeySet,
} from '../tokens/jwks-key-set';
import type { JwksFreshness } from '../tokens/jwks-cache';
import type { IdTokenExpectations } from '../tokens/id-token.verifier';
import { resolveAlgorithms } from '../tokens/signing-algorithms';
import { discoveryUrl, parseDiscoveryDocument, type ProviderMetadata } from './provider-metadata';
import { OidcTelemetry } from '../telemetry/oidc-telemetry';
import { ATTRIBUTE, SPAN } from '../telemetry/telemetry-names';

interface DiscoveryState {
  metadata?: ProviderMetadata;
  /** When `metadata` was fetched (epoch ms); a refresh is due {@link DISCOVERY_REFRESH_INTERVAL_MS} later. */
  fetchedAt?: number;
  pending?: Promise<ProviderMetadata>;
  failedAt?: number;
  failure?: OidcLogoutError;
  keys?: OidcKeySet;
  /** The `jwks_uri` `keys` fetch from. */
  keysUri?: string;
  /** Changes whenever a refresh changed what tokens are verified against (keys URI, algorithms). */
  version: number;
}

/**
 * What a health check reads of one registration's OP, without fetching anything (epoch ms).
 *
 * @internal
 */
export interface OidcProviderState {
  /** Whether the metadata comes from discovery (else from the registration's static options). */
  readonly discovery: boolean;
  /** Whether metadata is at hand (fetched, or static). */
  readonly hasMetadata: boolean;
  /** When the metadata in use was fetched. */
  readonly fetchedAt: number | undefined;
  /** When the latest discovery failed, while it is the latest attempt (cleared by a success). */
  readonly failedAt: number | undefined;
  /** That failure (`ERR_DISCOVERY_FAILED`). */
  readonly failure: OidcLogoutError | undefined;
  /** The discovery running now, if any (it never rejects). */
  readonly fetching: Promise<void> | undefined;
  /** The JWKS key set's state; `undefined` until the key set is made (first token, or a check). */
  readonly jwks: JwksFreshness | undefined;
}

/**
 * The largest discovery document read, in bytes (real ones are 1-20 KB). The body is counted as it
 * arrives and the read stops past it: an OP (or anyone on an http issuer) cannot fill the memory.
 */
export const MAX_DISCOVERY_DOCUMENT_BYTES = 256 * 1024;

/**
 * How long discovered metadata is used before it is fetched again (in the background: requests go
 * on with the last good metadata meanwhile, and keep it when the refresh fails).
 */
export const DISCOVERY_REFRESH_INTERVAL_MS = 60 * 60 * 1000;

/**
 * The OPs' metadata and keys, per registration: discovery fetched, cached and refreshed in the
 * background every {@link DISCOVERY_REFRESH_INTERVAL_MS} (a failed refresh keeps the last good
 * metadata and is retried a few seconds later), with static overrides from the options; the JWKS
 * through our own key set (cached, one shared refetch per unknown kid). An OP that is down at
 * startup does not stop the app: discovery is retried lazily (at most every few seconds) and each
 * failure is reported clearly. Every fetch is bounded in time (`httpTimeoutMs`) and size
 * ({@link MAX_DISCOVERY_DOCUMENT_BYTES}).
 *
 * @internal
 */
@Injectable()
export class OidcDiscoveryService implements OnApplicationBootstrap {
  private readonly logger = new Logger('OidcLogout');
  private readonly states = new Map<string, DiscoveryState>();

  constructor(
    @Inject(OIDC_LOGOUT_RESOLVED_OPTIONS) private readonly options: ResolvedOidcLogoutOptions,
    private readonly telemetry: OidcTelemetry = new OidcTelemetry([]),
  ) {}

  /**
   * Starts recording one fetch from the OP (a span under a traced request); the function returned
   * records its end (`oidc_logout.op.fetches`): `undefined` for a success, else the error.
   */
  private fetchObserved(
    document: 'discovery' | 'jwks',
    registrationId: string,
  ): (error?: unknown) => void {
    const span = this.telemetry.childSpan(SPAN.opFetch, () => ({ [ATTRIBUTE.document]: document }));
    return (error) => {
      const type = error === undefined ? undefined : errorType(error);
      this.telemetry.opFetch(document, registrationId, type === undefined ? 'ok' : 'failed', type);
      this.telemetry.endChildSpan(span, type);
    };
  }

  /** Starts discovery of every registration without waiting for it: failures are logged, not thrown. */
  onApplicationBootstrap(): void {
    for (const registration of this.options.clients) {
      this.getMetadata(registration).catch(() => {
        // Already logged by getMetadata; retried on first use.
      });
    }
  }

  /** The registration's OP metadata; rejects with `ERR_DISCOVERY_FAILED` when it cannot be had. */
  async getMetadata(registration: ResolvedClientRegistration): Promise<ProviderMetadata> {
    const state = this.state(registration.registrationId);
    if (state.metadata) {
      if (registration.discovery) this.refreshIfDue(registration, state);
      return state.metadata;
    }
    if (!registration.discovery) {
      state.metadata = {
        issuer: registration.issuer,
        jwksUri: registration.jwksUri,
        endSessionEndpoint: registration.endSessionEndpoint,
      };
      return state.metadata;
    }
    if (state.pending) return state.pending;
    if (state.failure && state.failedAt !== undefined) {
      if (Date.now() - state.failedAt < DISCOVERY_RETRY_INTERVAL_MS) throw state.failure;
    }
    return this.fetchMetadata(registration, state);
  }

  /**
   * A counter that changes whenever a discovery refresh changed what the registration's tokens are
   * verified against (the keys' URI or the algorithms): a verifier built before must be rebuilt.
   */
  getVersion(registration: ResolvedClientRegistration): number {
    const state = this.state(registration.registrationId);
    // Callers that keep a verifier come here on every token: the refresh is due from here too.
    if (state.metadata && registration.discovery) this.refreshIfDue(registration, state);
    return state.version;
  }

  /** Discovery, single-flight; the result replaces the metadata, a failure is remembered. */
  private fetchMetadata(
    registration: ResolvedClientRegistration,
    state: DiscoveryState,
  ): Promise<ProviderMetadata> {
    const ended = this.fetchObserved('discovery', registration.registrationId);
    state.pending = this.discover(registration).then(
      (metadata) => {
        ended();
        this.replaceMetadata(registration, state, metadata);
        state.pending = undefined;
        state.failure = undefined;
        return metadata;
      },
      (error: OidcLogoutError) => {
        ended(error);
        state.pending = undefined;
        state.failure = error;
        state.failedAt = Date.now();
        this.logger.warn(
          state.metadata
            ? `${error.message}; keeping the metadata fetched before, retrying later`
            : `${error.message}; retrying on next use`,
        );
        throw error;
      },
    );
    return state.pending;
  }

  /** Starts a background refresh when the metadata is old and no failure is recent. */
  private refreshIfDue(registration: ResolvedClientRegistration, state: DiscoveryState): void {
    const now = Date.now();
    if (state.pending || now - (state.fetchedAt ?? now) < DISCOVERY_REFRESH_INTERVAL_MS) return;
    if (state.failedAt !== undefined && now - state.failedAt < DISCOVERY_RETRY_INTERVAL_MS) return;
    this.fetchMetadata(registration, state).catch(() => {
      // Logged by fetchMetadata; the last good metadata stays in use.
    });
  }

  /** Takes fresh metadata; a changed `jwks_uri` or algorithm list invalidates keys and verifiers. */
  private replaceMetadata(
    registration: ResolvedClientRegistration,
    state: DiscoveryState,
    metadata: ProviderMetadata,
  ): void {
    const previous = state.metadata;
    state.metadata = metadata;
    state.fetchedAt = Date.now();
    if (!previous) return;
    const jwksUri = registration.jwksUri ?? metadata.jwksUri;
    if (state.keys && state.keysUri !== jwksUri) {
      // The keys' own refetch goes on as before; only a moved JWKS needs a new key set.
      state.keys = undefined;
      state.keysUri = undefined;
      state.version += 1;
    } else if (
      !registration.algorithms &&
      String(previous.idTokenSigningAlgValuesSupported) !==
        String(metadata.idTokenSigningAlgValuesSupported)
    ) {
      state.version += 1;
    }
  }

  /**
   * The key resolver for the registration's JWKS, shared by ID and logout tokens: cached, refetched
   * once on an unknown `kid` (single-flight, at most one fetch per cooldown; a token arriving during
   * the cooldown waits for it instead of failing). See `createOidcKeySet`.
   */
  async getKeySet(registration: ResolvedClientRegistration): Promise<JWTVerifyGetKey> {
    const state = this.state(registration.registrationId);
    if (state.keys) {
      if (state.metadata && registration.discovery) this.refreshIfDue(registration, state);
      return state.keys;
    }
    const metadata = await this.getMetadata(registration);
    const jwksUri = registration.jwksUri ?? metadata.jwksUri;
    if (!jwksUri) {
      throw new OidcLogoutError(
        'ERR_DISCOVERY_FAILED',
        `Registration "${registration.registrationId}": the OP publishes no jwks_uri; set the registration's jwksUri option`,
      );
    }
    state.keysUri = jwksUri;
    state.keys = createOidcKeySet(new URL(jwksUri), {
      timeoutMs: this.options.httpTimeoutMs,
      cooldownMs: DEFAULT_JWKS_COOLDOWN_MS,
      cacheMaxAgeMs: DEFAULT_JWKS_CACHE_MAX_AGE_MS,
      onFetch: () => this.fetchObserved('jwks', registration.registrationId),
    });
    return state.keys;
  }

  /** What a health check reads of the registration's OP: discovery and JWKS, fetching nothing. @internal */
  providerState(registration: ResolvedClientRegistration): OidcProviderState {
    const state = this.states.get(registration.registrationId);
    const pending = state?.pending;
    return {
      discovery: registration.discovery,
      hasMetadata: state?.metadata !== undefined,
      fetchedAt: state?.fetchedAt,
      failedAt: state?.failure === undefined ? undefined : state.failedAt,
      failure: state?.failure,
      fetching: pending?.then(
        () => undefined,
        () => undefined,
      ),
      jwks: state?.keys?.freshness(),
    };
  }

  /**
   * Fetches the registration's JWKS again (rate-limited and single-flight like any refetch), for a
   * health check that found the keys missing, stale or failing; rejects when the fetch fails.
   *
   * @internal
   */
  async reloadKeys(registration: ResolvedClientRegistration): Promise<void> {
    await this.getKeySet(registration);
    await this.state(registration.registrationId).keys?.reload();
  }

  /**
   * What every token of the registration (ID token, logout token) is verified against: its issuer
   * and client, the OP's keys, the accepted algorithms and the clock tolerance.
   */
  async getTokenExpectations(
    registration: ResolvedClientRegistration,
  ): Promise<IdTokenExpectations> {
    const [keys, algorithms] = await Promise.all([
      this.getKeySet(registration),
      this.getAlgorithms(registration),
    ]);
    return {
      issuer: registration.issuer,
      clientId: registration.clientId,
      clientSecret: registration.clientSecret,
      algorithms,
      keys,
      clockToleranceSeconds: this.options.clockToleranceSeconds,
    };
  }

  /** The JWS algorithms accepted for the registration's tokens. */
  async getAlgorithms(registration: ResolvedClientRegistration): Promise<readonly string[]> {
    if (registration.algorithms) return resolveAlgorithms(registration.algorithms, undefined);
    const metadata = await this.getMetadata(registration);
    return resolveAlgorithms(undefined, metadata.idTokenSigningAlgValuesSupported);
  }

  private state(registrationId: string): DiscoveryState {
    let state = this.states.get(registrationId);
    if (!state) {
      state = { version: 0 };
      this.states.set(registrationId, state);
    }
    return state;
  }

  private async discover(registration: ResolvedClientRegistration): Promise<ProviderMetadata> {
    const url = discoveryUrl(registration.issuer);
    const fail = (reason: string, cause?: unknown) =>
      new OidcLogoutError(
        'ERR_DISCOVERY_FAILED',
        `Registration "${registration.registrationId}": OpenID discovery at ${url} failed: ${reason}`,
        { cause },
      );
    let document: unknown;
    try {
      // One deadline for the answer and its whole body: a slow trickle is cut too.
      const response = await fetch(url, {
        headers: { accept: 'application/json' },
        redirect: 'error',
        signal: AbortSignal.timeout(this.options.httpTimeoutMs),
      });
      if (response.status !== 200) {
        await response.body?.cancel().catch(() => undefined);
        throw fail(`HTTP ${response.status}`);
      }
      const text = await readBoundedText(response, MAX_DISCOVERY_DOCUMENT_BYTES);
      if (text === undefined) {
        throw fail(`the document is larger than ${MAX_DISCOVERY_DOCUMENT_BYTES} bytes`);
      }
      try {
        document = JSON.parse(text);
      } catch {
        throw fail('the document is not JSON');
      }
    } catch (error) {
      if (error instanceof OidcLogoutError) throw error;
      if (
        error instanceof Error &&
        (error.name === 'TimeoutError' || error.name === 'AbortError')
      ) {
        throw fail(`no complete answer within ${this.options.httpTimeoutMs} ms`, error);
      }
      throw fail(error instanceof Error ? error.message : String(error), error);
    }
    const parsed = parseDiscoveryDocument(
      document,
      registration.issuer,
      this.options.requireHttps === true,
    );
    if ('error' in parsed) throw fail(parsed.error);
    return {
      ...parsed,
      jwksUri: registration.jwksUri ?? parsed.jwksUri,
      endSessionEndpoint: registration.endSessionEndpoint ?? parsed.endSessionEndpoint,
    };
  }
}
