import { Logger } from '@nestjs/common';
import { decodeJwt } from 'jose';
import { OidcLogoutError, OidcLogoutOptionsError } from '../errors/oidc-logout.error';
import type { ResolvedClientRegistration } from '../options/resolved-oidc-logout-options';
import type { LogoutService } from '../services/logout.service';
import type { OidcDiscoveryService } from '../services/oidc-discovery.service';
import { destroySession, sessionIdOf, type SessionRequest } from '../services/request-session';
import {
  LOGIN_OPTIONS_HEADER,
  type OidcLogin,
  type OidcLoginUser,
  type ResolvedOidcLoginStrategyOptions,
} from './oidc-login.options';
import {
  LOGIN_STATE_KEY_PREFIX,
  OidcLoginStateStore,
  type LoginSessionData,
} from './oidc-login-state.store';
import { createPkcePair, shouldUsePkce } from './pkce';
import { clearSessionLoginMark } from '../services/session-login-mark';
import { requestTokens, type OidcTokenEndpointAuthMethod } from './token-request';
import { assertIdTokenShape } from './token-response';

/** Where a login goes at the OP, as discovered (or configured). @internal */
export interface LoginEndpoints {
  authorizationEndpoint: string;
  tokenEndpoint: string;
  pkce: boolean;
  /**
   * The OP announces `authorization_response_iss_parameter_supported: true` (RFC 9207): its
   * authorization responses must carry `iss`.
   */
  issParameterRequired: boolean;
}

type Callback<A extends unknown[]> = (error: unknown, ...results: A) => void;

/** The context passport-openidconnect hands to its state store. */
interface StoreContext {
  nonce?: string;
  maxAge?: number;
  issued?: Date;
}

/** What the state store hands the code exchange of the same request. */
interface CodeExchange {
  codeVerifier?: string;
}

/**
 * What passport-openidconnect 0.1.2 reads from `this` during one `authenticate` call, set per request
 * on an object whose prototype is passport's per-request strategy: its `_oauth2` (endpoints and code
 * exchange), `_stateStore` and `authorizationParams`.
 *
 * @internal
 */
export interface PerRequestStrategy {
  _oauth2: {
    _clientId: string;
    _authorizeUrl: string;
    _accessTokenUrl: string;
    getOAuthAccessToken(
      code: string,
      params: Record<string, string>,
      callback: Callback<[unknown?, unknown?, Record<string, unknown>?]>,
    ): void;
    get(url: string, accessToken: string, callback: Callback<[]>): void;
  };
  _stateStore: {
    store(
      req: SessionRequest,
      ctx: StoreContext,
      appState: unknown,
      meta: unknown,
      callback: Callback<[string?]>,
    ): void;
    verify(
      req: SessionRequest,
      handle: unknown,
      callback: (error: unknown, ctx?: StoreContext | false, stateOrInfo?: unknown) => void,
    ): void;
  };
  authorizationParams(options: unknown): Record<string, string>;
  /** passport's per-request `error` (from the prototype): ends the authentication with an error. */
  error(error: Error): void;
}

const NO_SESSION =
  'The OpenID Connect login needs a server-side session (express-session) on the login and callback routes';

/**
 * The login of one registration, on top of passport-openidconnect 0.1.2, which does the authorization
 * request, the callback's error, `state`, `iss`/`aud`/`azp`/`exp`/`nonce` checks (on the unverified
 * ID token) and the verify call. This class adds what it lacks:
 * - endpoints from discovery at each attempt (cached by `OidcDiscoveryService`), so that an OP down at
 *   startup only fails the logins made while it is down;
 * - pending logins kept in the session with their nonce and PKCE verifier, several at once, single
 *   use, expiring ({@link OidcLoginStateStore}); a login without a nonce is never started;
 * - PKCE S256 (RFC 7636): the challenge in the authorization request, the verifier in the code
 *   exchange, which is made here (client_secret_basic by default; the `oauth` package only posts the
 *   secret in the body, which OPs may refuse);
 * - the ID token's signature and claims verified, and the login recorded for the session, by
 *   `LogoutService.recordLogin`: a token it refuses fails the login.
 *
 * @internal
 */
export class OidcLoginFlow {
  private readonly logger = new Logger('OidcLogin');
  private readonly stateStore: OidcLoginStateStore;
  private readonly authMethod: OidcTokenEndpointAuthMethod;
  private pkceWarned = false;

  constructor(
    readonly options: ResolvedOidcLoginStrategyOptions,
    readonly registration: ResolvedClientRegistration,
    private readonly logoutService: LogoutService,
    private readonly discovery: OidcDiscoveryService,
    private readonly httpTimeoutMs: number,
  ) {
    this.stateStore = new OidcLoginStateStore(`${LOGIN_STATE_KEY_PREFIX}${options.name}`);
    this.authMethod =
      options.tokenEndpointAuthMethod ??
      (registration.clientSecret ? 'client_secret_basic' : 'none');
    if (this.authMethod !== 'none' && !registration.clientSecret) {
      const id = JSON.stringify(registration.registrationId);
      throw new OidcLogoutOptionsError(
        `${LOGIN_OPTIONS_HEADER}\n  - tokenEndpointAuthMethod: "${this.authMethod}" needs the clientSecret of registration ${id}, which has none. Fix: set clientSecret on the client ${id} of OidcLogoutModule, or use tokenEndpointAuthMethod "none" (a public client, with PKCE).`,
      );
    }
  }

  /** The login endpoints: the options' ones, else discovery's. @throws OidcLogoutError `ERR_DISCOVERY_FAILED`. */
  async endpoints(): Promise<LoginEndpoints> {
    const { registration, options } = this;
    const metadata = await this.discovery.getMetadata(registration);
    const authorizationEndpoint = options.authorizationEndpoint ?? metadata.authorizationEndpoint;
    const tokenEndpoint = options.tokenEndpoint ?? metadata.tokenEndpoint;
    if (!authorizationEndpoint || !tokenEndpoint) {
      throw new OidcLogoutError(
        'ERR_DISCOVERY_FAILED',
        `Registration "${registration.registrationId}": the OP's authorization_endpoint or token_endpoint is unknown (no discovery document announces it). Fix: set authorizationEndpoint and tokenEndpoint in createOidcLoginStrategyProvider's options`,
      );
    }
    const pkce = shouldUsePkce(options.pkce, metadata.codeChallengeMethodsSupported);
    if (!pkce && options.pkce) {
      if (this.authMethod === 'none') {
        throw new OidcLogoutError(
          'ERR_DISCOVERY_FAILED',
          `Registration "${registration.registrationId}": a public client (no clientSecret) needs PKCE S256, which the OP does not announce. Fix: enable S256 at the OP, or give the registration a clientSecret`,
        );
      }
      if (!this.pkceWarned) {
        this.pkceWarned = true;
        this.logger.warn(
          `Registration "${registration.registrationId}": the OP announces code_challenge_methods_supported without S256; logging in without PKCE`,
        );
      }
    }
    return {
      authorizationEndpoint,
      tokenEndpoint,
      pkce,
      issParameterRequired: metadata.authorizationResponseIssParameterSupported === true,
    };
  }

  /**
   * RFC 9207 on a callback (a request with `code` or `error`): its `iss` parameter, when present, must
   * be exactly the registration's issuer, and it must be present when the OP announces that it sends
   * it (mix-up defence). Returns why the callback is refused, or `undefined`. Checked before `state` is
   * consumed and before any code exchange.
   */
  authorizationResponseRefusal(request: object, endpoints: LoginEndpoints): string | undefined {
    const query = (request as { query?: Record<string, unknown> }).query ?? {};
    if (!query.code && !query.error) return undefined;
    if (query.iss === undefined) {
      return endpoints.issParameterRequired
        ? 'The authorization response has no iss parameter, which the OP announces (RFC 9207)'
        : undefined;
    }
    return query.iss === this.registration.issuer
      ? undefined
      : "The authorization response's iss parameter is not the registration's issuer (RFC 9207)";
  }

  /**
   * Sets up `perRequest` (an object whose prototype is passport's per-request strategy) for one
   * `authenticate` call: the endpoints, the state store of this request, and PKCE.
   */
  prepare(perRequest: PerRequestStrategy, request: object, endpoints: LoginEndpoints): void {
    const query = (request as { query?: Record<string, unknown> }).query ?? {};
    const authorizing = !query.code && !query.error;
    const pkce = authorizing && endpoints.pkce ? createPkcePair() : undefined;
    /** The PKCE verifier of the authorization request this callback answers (read from its state). */
    const exchange: CodeExchange = {};

    perRequest.authorizationParams = (): Record<string, string> =>
      pkce ? { code_challenge: pkce.challenge, code_challenge_method: pkce.method } : {};
    perRequest._stateStore = this.stateStoreFor(pkce, exchange);
    perRequest._oauth2 = this.oauth2For(perRequest, endpoints, exchange);
  }

  /** passport's state store for one request: the login's nonce, PKCE verifier and app state. */
  private stateStoreFor(
    pkce: { verifier: string } | undefined,
    exchange: CodeExchange,
  ): PerRequestStrategy['_stateStore'] {
    return {
      store: (req, ctx, appState, _meta, callback) => {
        const session = sessionData(req);
        if (!session) return callback(new OidcLogoutError('ERR_NO_SESSION', NO_SESSION));
        if (!ctx.nonce) return callback(new Error('OpenID Connect login started without a nonce'));
        const handle = this.stateStore.save(session, {
          nonce: ctx.nonce,
          codeVerifier: pkce?.verifier,
          maxAge: ctx.maxAge,
          issuedAt: ctx.issued?.toISOString(),
          appState,
        });
        callback(null, handle);
      },
      verify: (req, handle, callback) => {
        const session = sessionData(req);
        if (!session) return callback(new OidcLogoutError('ERR_NO_SESSION', NO_SESSION));
        const pending = this.stateStore.take(session, handle);
        if (!pending) {
          return callback(null, false, {
            message: 'Invalid or expired authorization request state',
          });
        }
        exchange.codeVerifier = pending.codeVerifier;
        const ctx: StoreContext = { nonce: pending.nonce, maxAge: pending.maxAge };
        if (pending.issuedAt) ctx.issued = new Date(pending.issuedAt);
        callback(null, ctx, pending.appState);
      },
    };
  }

  /** passport's `_oauth2` for one request: the endpoints, and the code exchange made here. */
  private oauth2For(
    perRequest: PerRequestStrategy,
    endpoints: LoginEndpoints,
    exchange: CodeExchange,
  ): PerRequestStrategy['_oauth2'] {
    return {
      _clientId: this.registration.clientId,
      _authorizeUrl: endpoints.authorizationEndpoint,
      _accessTokenUrl: endpoints.tokenEndpoint,
      getOAuthAccessToken: (code, params, callback) => {
        const form: Record<string, string> = { ...params, code };
        if (exchange.codeVerifier) form.code_verifier = exchange.codeVerifier;
        requestTokens(
          {
            tokenEndpoint: endpoints.tokenEndpoint,
            clientId: this.registration.clientId,
            clientSecret: this.registration.clientSecret,
            authMethod: this.authMethod,
            params: form,
          },
          this.httpTimeoutMs,
        )
          .then((tokens) => {
            // passport-openidconnect reads the ID token unguarded: only a well-formed one reaches it.
            assertIdTokenShape(tokens);
            return tokens;
          })
          .then(
            // Called outside the promise (nothing thrown is swallowed by it), but never past passport:
            // whatever the callback throws ends this login with an error, not the process.
            (tokens) =>
              process.nextTick(() =>
                guarded(perRequest, () =>
                  callback(null, tokens.access_token, tokens.refresh_token, tokens),
                ),
              ),
            (error: unknown) => process.nextTick(() => guarded(perRequest, () => callback(error))),
          );
      },
      get: (_url, _accessToken, callback) =>
        callback(new Error('nest-oidc-logout does not fetch the userinfo endpoint')),
    };
  }

  /**
   * The verify step: records the login for the request's session with the raw ID token, which
   * `recordLogin` verifies first (signature by the OP's keys, `iss`, `aud`, `exp`); then maps it to
   * the passport user. Resolves `false` (login refused) when `validate` refuses it; every failure
   * after the record was saved removes it again.
   */
  async completeLogin(request: SessionRequest, idToken: unknown): Promise<unknown> {
    if (typeof idToken !== 'string' || idToken.length === 0) {
      throw new OidcLogoutError('ERR_ID_TOKEN_INVALID', 'ID token rejected: the OP sent none');
    }
    const { registrationId } = this.registration;
    const info = await this.logoutService.recordLogin(request, idToken, { registrationId });
    try {
      const claims = decodeJwt(idToken); // verified by recordLogin above
      const login: OidcLogin = {
        registrationId,
        issuer: info.issuer,
        clientId: info.clientId,
        sub: info.sub,
        claims,
      };
      // The OP's sid itself (the record keeps its digest).
      if (typeof claims.sid === 'string') login.sid = claims.sid;
      const user = this.options.validate
        ? await this.options.validate(login, request)
        : defaultUser(login);
      if (!user) await this.forget(request);
      return user || false;
    } catch (error) {
      await this.forget(request);
      throw error;
    }
  }

  /**
   * Removes the record of a login that did not go through. Never rejects: when the store cannot
   * remove it, the session itself is destroyed, so that the record it leaves behind belongs to a dead
   * session id and never passes the guard once the store is back.
   */
  private async forget(request: SessionRequest): Promise<void> {
    clearSessionLoginMark(request);
    const sessionId = sessionIdOf(request);
    if (sessionId === undefined) return;
    try {
      await this.logoutService.removeSession(sessionId);
    } catch {
      await destroySession(request);
    }
  }
}

/** Runs `step`; an exception it throws ends the login through passport's `error`, never the process. */
function guarded(perRequest: PerRequestStrategy, step: () => void): void {
  try {
    step();
  } catch (error) {
    try {
      perRequest.error(error instanceof Error ? error : new Error(String(error)));
    } catch {
      // The request's own error path failed too: nothing more can be answered for it.
    }
  }
}

function defaultUser(login: OidcLogin): OidcLoginUser {
  const user: OidcLoginUser = {
    registrationId: login.registrationId,
    issuer: login.issuer,
    sub: login.sub,
  };
  if (login.sid !== undefined) user.sid = login.sid;
  return user;
}

function sessionData(request: SessionRequest): LoginSessionData | undefined {
  const session = request.session as LoginSessionData | undefined;
  return session && typeof session === 'object' ? session : undefined;
}
