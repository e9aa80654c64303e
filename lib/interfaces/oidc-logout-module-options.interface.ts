import type { OidcLogoutEventStore } from '../logout-events/oidc-logout-event.store';
import type { Type } from '@nestjs/common';
import type { KeyObject } from 'node:crypto';
import type { CryptoKey, JWK } from 'jose';
import type { DataSource } from 'typeorm';
import type { OidcSessionRepository } from '../repositories/oidc-session.repository';
import type { TypeOrmOidcSessionRepositoryOptions } from '../repositories/typeorm/typeorm-oidc-session-repository.options';
import type { OidcRevocationEvent } from './oidc-revocation-event.interface';
import type { OidcRpLogoutMethod } from './rp-initiated-logout.interface';

/**
 * Paths of the routes the module registers. Each starts with '/' and is not '/'.
 *
 * @publicApi
 */
export interface OidcLogoutRoutes {
  /** RP-initiated logout. Default `'/logout'`. */
  logout?: string;
  /** Where the OP sends the browser back after logout. Default `'/logout/callback'`. */
  logoutCallback?: string;
  /** Back-channel logout prefix; the route is `${backChannel}/:registrationId`. Default `'/logout/connect/back-channel'`. */
  backChannel?: string;
  /** Front-channel logout prefix; the route is `${frontChannel}/:registrationId`. Default `'/logout/connect/front-channel'`. */
  frontChannel?: string;
}

/**
 * Back-channel logout settings of one registration.
 *
 * @publicApi
 */
export interface OidcBackChannelOptions {
  /**
   * `backchannel_logout_session_required` as registered at the OP: when `true`, every logout token
   * must carry a `sid` and one without is refused (`sid_missing`). Default `false`: a token with only
   * a `sub` is accepted and ends every session of that user at this client.
   */
  sessionRequired?: boolean;
}

/**
 * Front-channel logout settings of one registration.
 *
 * @publicApi
 */
export interface OidcFrontChannelOptions {
  /** Whether `iss` and `sid` are required on the front-channel request. Default `true`. */
  sessionRequired?: boolean;
  /**
   * Accept a `sid` without `iss` (Microsoft Entra ID sends only `sid`). Off by default: turn it on only
   * for the registration of such an OP.
   */
  allowMissingIssuer?: boolean;
}

/**
 * One client registered at one OpenID Provider. Several registrations make a multi-tenant app; each is
 * addressed by its `registrationId` in the back- and front-channel URLs.
 *
 * @publicApi
 */
export interface OidcClientRegistration {
  /** Unique key of the registration, used in URLs: letters, digits, '.', '_' and '-'. */
  registrationId: string;
  /** The OP's issuer identifier, exactly as it appears in its tokens (an absolute URL). */
  issuer: string;
  /** The client id registered at the OP (the `aud` of its tokens). */
  clientId: string;
  /**
   * The client secret issued by the OP, for a confidential client. The login
   * (`nest-oidc-logout/passport`) authenticates with it at the token endpoint
   * (`client_secret_basic` or `client_secret_post`); without it the login is a public client (PKCE).
   * It is also the key that verifies ID and logout tokens the OP signs with HS256/384/512 (an HS
   * algorithm in `algorithms` requires it). Never logged.
   */
  clientSecret?: string;
  /** The post-logout redirect URI registered at the OP: absolute, no fragment. */
  postLogoutRedirectUri?: string;
  /** Back-channel logout settings, or `false` to refuse back-channel logout for this registration. */
  backChannel?: OidcBackChannelOptions | false;
  /** Front-channel logout settings, or `false` to refuse front-channel logout for this registration. */
  frontChannel?: OidcFrontChannelOptions | false;
  /**
   * Accepted JWS algorithms for ID and logout tokens. Default: the OP's
   * `id_token_signing_alg_values_supported`, else `['RS256']`. `none` is never accepted.
   */
  algorithms?: string[];
  /** Accept logout tokens without `exp` (Keycloak <= 23.0.3 and other older OPs). Overrides the module-wide default. */
  legacyLogoutTokens?: boolean;
  /** Fetch `${issuer}/.well-known/openid-configuration`. Default `true`; set `false` for OPs without discovery. */
  discovery?: boolean;
  /** Static override of the OP's `end_session_endpoint` (absolute URL). */
  endSessionEndpoint?: string;
  /** Static override of the OP's `jwks_uri` (absolute URL). */
  jwksUri?: string;
  /**
   * The client's private key for encrypted logout tokens (registered with
   * `id_token_encrypted_response_alg`): a private JWK, a `KeyObject` or a `CryptoKey`. When set, only
   * encrypted (JWE) logout tokens are accepted; a plain JWS is refused.
   */
  decryptionKey?: JWK | KeyObject | CryptoKey;
}

/**
 * Options of {@link OidcLogoutModule}. Validated at startup: a wrong option stops the app with a
 * message naming the option, the value and the fix; unknown keys are rejected.
 *
 * @publicApi
 */
export interface OidcLogoutModuleOptions {
  /** The client registrations; at least one. */
  clients: OidcClientRegistration[];
  /** Paths of the routes the module registers. */
  routes?: OidcLogoutRoutes;
  /** Where the browser lands after logout. Default `'/'`. */
  postLogoutLandingUrl?: string;
  /** Where the guard redirects HTML requests whose session has ended. Without it, they get a 401 too. */
  loginUrl?: string;
  /**
   * How RP-initiated logout sends the browser to the OP's `end_session_endpoint`: `'GET'` (a 302 with
   * the parameters in the query) or `'POST'` (an auto-submitting form). Default `'GET'`.
   */
  rpLogoutMethod?: OidcRpLogoutMethod;
  /**
   * The session-correlation repository: an instance, or a class that Nest instantiates with injection
   * (its dependencies must be visible to this module: pass their module in `forRootAsync`'s `imports`,
   * or make it global).
   * Default: {@link TypeOrmOidcSessionRepository} on `dataSource` or on the app's TypeORM DataSource
   * when there is one, otherwise {@link InMemoryOidcSessionRepository} (with a startup warning).
   */
  sessionRepository?: Type<OidcSessionRepository> | OidcSessionRepository;
  /**
   * The logout-event store (replay claims of logout tokens, tombstones): an instance, or a class
   * that Nest instantiates with injection. Every app instance must share it, as it shares the
   * session store. Default: `TypeOrmOidcLogoutEventStore` on `dataSource` or on the app's TypeORM
   * DataSource when there is one (also with a custom `sessionRepository`), otherwise
   * {@link InMemoryOidcLogoutEventStore} (with a startup warning: one process only).
   */
  logoutEventStore?: Type<OidcLogoutEventStore> | OidcLogoutEventStore;
  /**
   * A TypeORM DataSource for the default repository, when the app's own (from `@nestjs/typeorm`) is not
   * the one to use. It must list `OIDC_LOGOUT_ENTITIES` (the session and logout-event entities).
   */
  dataSource?: DataSource;
  /**
   * Options of the default {@link TypeOrmOidcSessionRepository} (the one the module builds on
   * `dataSource` or on the app's DataSource): PostgreSQL statement `batching`, the guard's
   * `lookupCache` and `notifyRemovals`. Not with `sessionRepository` (pass them to the repository
   * you build).
   *
   * @example
   * ```ts
   * OidcLogoutModule.forRoot({ clients, typeOrmRepository: { lookupCache: { ttlMs: 5000 } } });
   * ```
   */
  typeOrmRepository?: TypeOrmOidcSessionRepositoryOptions;
  /** Clock skew tolerated when checking `exp`/`iat`, in seconds. Default `30`. */
  clockToleranceSeconds?: number;
  /** Module-wide default of {@link OidcClientRegistration.legacyLogoutTokens}. Default `false`. */
  legacyLogoutTokens?: boolean;
  /**
   * How long a recorded login stays valid, in seconds, when the session cookie has no longer
   * `maxAge`. Set it to at least your session lifetime. Default `86400` (one day).
   */
  sessionTtlSeconds?: number;
  /** Upper bound on the entries of the in-memory repository. Default `10000`. */
  inMemoryMaxEntries?: number;
  /** How often expired records are deleted, in seconds. Default `300`. */
  cleanupIntervalSeconds?: number;
  /** Timeout of each request to the OP (discovery, JWKS), in milliseconds. Default `5000`. */
  httpTimeoutMs?: number;
  /**
   * Longest wait for any one answer of the session store, in milliseconds (1 to 60000). Past it the
   * store counts as unavailable: the guard answers 503 and a verified back-channel logout is kept
   * (400 to the OP) and applied once the store answers again. Default `3000`.
   */
  storeTimeoutMs?: number;
  /**
   * Opt-in: an absolute path to a local file where verified back-channel logouts that the store
   * could not take yet are journaled (appended and fsync'd before the OP gets its 400), so that a
   * restart or a crash does not lose them: at startup the module applies what the file holds. The
   * file holds the `sid`/`sub` a logout names (never a token): it is created with mode `0600`; keep
   * it on a local disk readable by the app's user only, one file per app instance. Without it,
   * pending logouts live in memory and a stop during an outage loses them (logged as
   * `oidc_pending_logout_lost`).
   */
  pendingLogoutJournal?: string;
  /**
   * Called after every revocation (back-channel, front-channel, RP-initiated or `LogoutService.revoke`)
   * with the sessions removed; e.g. to revoke refresh tokens when Keycloak sets `revoke_offline_access`.
   * Errors are logged and do not change the response. Injectable code can use
   * `LogoutService.onRevocation(listener)` instead.
   */
  onRevocation?: (event: OidcRevocationEvent) => void | Promise<void>;
}
