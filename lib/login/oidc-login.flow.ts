import { OidcLogoutOptionsError } from '../errors/oidc-logout.error';
import type { ResolvedClientRegistration } from '../options/resolved-oidc-logout-options';
import type { LogoutService } from '../services/logout.service';
import type { OidcDiscoveryService } from '../services/oidc-discovery.service';
import type { SessionRequest } from '../services/request-session';
import { OidcLoginCompletion } from './login-completion';
import {
  authorizationResponseRefusal,
  OidcLoginEndpoints,
  type LoginEndpoints,
} from './login-endpoints';
import { LOGIN_OPTIONS_HEADER, type ResolvedOidcLoginStrategyOptions } from './oidc-login.options';
import { LOGIN_STATE_KEY_PREFIX, OidcLoginStateStore } from './oidc-login-state.store';
import {
  preparePerRequest,
  type PerRequestSetup,
  type PerRequestStrategy,
} from './per-request-strategy';
import type { OidcTokenEndpointAuthMethod } from './token-request';

/**
 * The login of one registration, on top of passport-openidconnect 0.1.2, which does the authorization
 * request, the callback's error, `state`, `iss`/`aud`/`azp`/`exp`/`nonce` checks (on the unverified
 * ID token) and the verify call. This class adds what it lacks, each part in a file of its own:
 * - endpoints from discovery at each attempt (cached by `OidcDiscoveryService`), so that an OP down at
 *   startup only fails the logins made while it is down ({@link OidcLoginEndpoints});
 * - pending logins kept in the session with their nonce and PKCE verifier, several at once, single
 *   use, expiring ({@link OidcLoginStateStore}); a login without a nonce is never started;
 * - PKCE S256 (RFC 7636): the challenge in the authorization request, the verifier in the code
 *   exchange, which is made here (client_secret_basic by default; the `oauth` package only posts the
 *   secret in the body, which OPs may refuse) ({@link preparePerRequest});
 * - the ID token's signature and claims verified, and the login recorded for the session, by
 *   `LogoutService.recordLogin`: a token it refuses fails the login ({@link OidcLoginCompletion}).
 *
 * @internal
 */
export class OidcLoginFlow {
  private readonly loginEndpoints: OidcLoginEndpoints;
  private readonly perRequestSetup: PerRequestSetup;
  private readonly completion: OidcLoginCompletion;

  /** @throws OidcLogoutOptionsError when the token endpoint's client authentication needs a secret the registration lacks. */
  constructor(
    readonly options: ResolvedOidcLoginStrategyOptions,
    readonly registration: ResolvedClientRegistration,
    logoutService: LogoutService,
    discovery: OidcDiscoveryService,
    httpTimeoutMs: number,
  ) {
    const authMethod = tokenEndpointAuthMethod(options, registration);
    this.loginEndpoints = new OidcLoginEndpoints(options, registration, discovery, authMethod);
    this.perRequestSetup = {
      stateStore: new OidcLoginStateStore(`${LOGIN_STATE_KEY_PREFIX}${options.name}`),
      registration,
      authMethod,
      httpTimeoutMs,
    };
    this.completion = new OidcLoginCompletion(options, registration, logoutService);
  }

  /** The login endpoints: the options' ones, else discovery's. @throws OidcLogoutError `ERR_DISCOVERY_FAILED`. */
  endpoints(): Promise<LoginEndpoints> {
    return this.loginEndpoints.current();
  }

  /** Why a callback is refused under RFC 9207, or `undefined` (see {@link authorizationResponseRefusal}). */
  authorizationResponseRefusal(request: object, endpoints: LoginEndpoints): string | undefined {
    return authorizationResponseRefusal(request, endpoints, this.registration.issuer);
  }

  /**
   * Sets up `perRequest` (an object whose prototype is passport's per-request strategy) for one
   * `authenticate` call: the endpoints, the state store of this request, and PKCE.
   */
  prepare(perRequest: PerRequestStrategy, request: object, endpoints: LoginEndpoints): void {
    preparePerRequest(perRequest, request, endpoints, this.perRequestSetup);
  }

  /** The verify step (see {@link OidcLoginCompletion.complete}): the passport user, or `false`. */
  completeLogin(request: SessionRequest, idToken: unknown): Promise<unknown> {
    return this.completion.complete(request, idToken);
  }
}

/**
 * The client authentication at the token endpoint: the options' one, else `client_secret_basic` with a
 * client secret and `none` (a public client) without.
 */
function tokenEndpointAuthMethod(
  options: ResolvedOidcLoginStrategyOptions,
  registration: ResolvedClientRegistration,
): OidcTokenEndpointAuthMethod {
  const authMethod =
    options.tokenEndpointAuthMethod ?? (registration.clientSecret ? 'client_secret_basic' : 'none');
  if (authMethod !== 'none' && !registration.clientSecret) {
    const id = JSON.stringify(registration.registrationId);
    throw new OidcLogoutOptionsError(
      `${LOGIN_OPTIONS_HEADER}\n  - tokenEndpointAuthMethod: "${authMethod}" needs the clientSecret of registration ${id}, which has none. Fix: set clientSecret on the client ${id} of OidcLogoutModule, or use tokenEndpointAuthMethod "none" (a public client, with PKCE).`,
    );
  }
  return authMethod;
}
