import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import type { JWTVerifyGetKey } from 'jose';
import { OidcLogoutError } from '../errors/oidc-logout.error';
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
} from '../tokens/jwks-key-set';
import type { IdTokenExpectations } from '../tokens/id-token.verifier';
import { resolveAlgorithms } from '../tokens/signing-algorithms';
import { discoveryUrl, parseDiscoveryDocument, type ProviderMetadata } from './provider-metadata';

interface DiscoveryState {
  metadata?: ProviderMetadata;
  pending?: Promise<ProviderMetadata>;
  failedAt?: number;
  failure?: OidcLogoutError;
  keys?: JWTVerifyGetKey;
}

/**
 * The OPs' metadata and keys, per registration: discovery fetched once and cached, with static
 * overrides from the options; the JWKS through our own key set (cached, one shared refetch per unknown kid). An OP that is down at startup
 * does not stop the app: discovery is retried lazily (at most every few seconds) and each failure
 * is reported clearly.
 *
 * @internal
 */
@Injectable()
export class OidcDiscoveryService implements OnApplicationBootstrap {
  private readonly logger = new Logger('OidcLogout');
  private readonly states = new Map<string, DiscoveryState>();

  constructor(
    @Inject(OIDC_LOGOUT_RESOLVED_OPTIONS) private readonly options: ResolvedOidcLogoutOptions,
  ) {}

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
    if (state.metadata) return state.metadata;
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
    state.pending = this.discover(registration).then(
      (metadata) => {
        state.metadata = metadata;
        state.pending = undefined;
        state.failure = undefined;
        return metadata;
      },
      (error: OidcLogoutError) => {
        state.pending = undefined;
        state.failure = error;
        state.failedAt = Date.now();
        this.logger.warn(`${error.message}; retrying on next use`);
        throw error;
      },
    );
    return state.pending;
  }

  /**
   * The key resolver for the registration's JWKS, shared by ID and logout tokens: cached, refetched
   * once on an unknown `kid` (single-flight, at most one fetch per cooldown; a token arriving during
   * the cooldown waits for it instead of failing). See `createOidcKeySet`.
   */
  async getKeySet(registration: ResolvedClientRegistration): Promise<JWTVerifyGetKey> {
    const state = this.state(registration.registrationId);
    if (state.keys) return state.keys;
    const metadata = await this.getMetadata(registration);
    const jwksUri = registration.jwksUri ?? metadata.jwksUri;
    if (!jwksUri) {
      throw new OidcLogoutError(
        'ERR_DISCOVERY_FAILED',
        `Registration "${registration.registrationId}": the OP publishes no jwks_uri; set the registration's jwksUri option`,
      );
    }
    state.keys = createOidcKeySet(new URL(jwksUri), {
      timeoutMs: this.options.httpTimeoutMs,
      cooldownMs: DEFAULT_JWKS_COOLDOWN_MS,
      cacheMaxAgeMs: DEFAULT_JWKS_CACHE_MAX_AGE_MS,
    });
    return state.keys;
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
      state = {};
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
      const response = await fetch(url, {
        headers: { accept: 'application/json' },
        redirect: 'error',
        signal: AbortSignal.timeout(this.options.httpTimeoutMs),
      });
      if (response.status !== 200) throw fail(`HTTP ${response.status}`);
      document = await response.json();
    } catch (error) {
      if (error instanceof OidcLogoutError) throw error;
      throw fail(error instanceof Error ? error.message : String(error), error);
    }
    const parsed = parseDiscoveryDocument(document, registration.issuer);
    if ('error' in parsed) throw fail(parsed.error);
    return {
      ...parsed,
      jwksUri: registration.jwksUri ?? parsed.jwksUri,
      endSessionEndpoint: registration.endSessionEndpoint ?? parsed.endSessionEndpoint,
    };
  }
}
